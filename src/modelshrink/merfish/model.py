"""The anglerFISH network: two stages of small U-Nets and two 3x3 convolutional heads.

Stage one has one U-Net per colour channel (8 rounds in); the original code applied the
647 nm U-Net to both channels, here each channel gets its own. Stage two reads both stage-one
outputs. The forward pass returns one tensor so the network exports, quantizes and compiles
as a single graph output: channel 0 holds position logits, channels 1..16 barcode-bit logits.
"""

from __future__ import annotations

import torch
from torch import nn

from modelshrink.merfish.spec import BITS, ROUNDS, ModelSpec

POSITION_CHANNEL = 0
BARCODE_CHANNELS = slice(1, 1 + BITS)


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """Reflect padding keeps spots at the tile border from seeing a dark frame."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect")


class ConvBlock(nn.Sequential):
    """Three conv + batch norm + ELU layers; conv and BN fuse for int8."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        layers: list[nn.Module] = []
        for index in range(3):
            layers += [
                conv3x3(in_channels if index == 0 else out_channels, out_channels),
                nn.BatchNorm2d(out_channels),
                nn.ELU(),
            ]
        super().__init__(*layers)


class UNet(nn.Module):
    """Two 2x max-pool levels, a bottleneck and two nearest-neighbour upsampling levels."""

    def __init__(self, in_channels: int, out_channels: int, spec: ModelSpec) -> None:
        super().__init__()
        c1, c2, c3 = spec.channels(48), spec.channels(96), spec.channels(192)
        self.down1 = ConvBlock(in_channels, c1)
        self.down2 = ConvBlock(c1, c2)
        self.bottleneck = ConvBlock(c2, c3)
        self.up2 = ConvBlock(c3 + c2, c2)
        self.up1 = ConvBlock(c2 + c1, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip1 = self.down1(x)
        skip2 = self.down2(self.pool(skip1))
        bottom = self.bottleneck(self.pool(skip2))
        up2 = self.up2(torch.cat([self.upsample(bottom), skip2], dim=1))
        return self.up1(torch.cat([self.upsample(up2), skip1], dim=1))


class Head(nn.Sequential):
    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__(conv3x3(in_channels, hidden), nn.ELU(), conv3x3(hidden, out_channels))


class AnglerFISH(nn.Module):
    """Input: (batch, 16, H, W) = 8 rounds of 647 nm then 8 rounds of 750 nm, H and W % 4 == 0.

    Output: (batch, 17, H, W) logits, position first then barcode bits 0..15.
    """

    def __init__(self, spec: ModelSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or ModelSpec()
        features = self.spec.channels(48)
        self.stage1_647 = UNet(ROUNDS, features, self.spec)
        self.stage1_750 = UNet(ROUNDS, features, self.spec)
        self.stage2 = UNet(2 * features, features, self.spec)
        self.position_head = Head(features, features, 1)
        self.barcode_head = Head(features, features, BITS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = torch.cat(
            [self.stage1_647(x[:, :ROUNDS]), self.stage1_750(x[:, ROUNDS : 2 * ROUNDS])], dim=1
        )
        features = self.stage2(first)
        return torch.cat([self.position_head(features), self.barcode_head(features)], dim=1)
