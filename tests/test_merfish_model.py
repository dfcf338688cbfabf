"""The anglerFISH architecture: sizes as specified, each stage-one U-Net its own channel."""

from __future__ import annotations

import torch

from modelshrink.merfish.model import AnglerFISH
from modelshrink.merfish.spec import ModelSpec

torch.set_num_threads(1)


def test_full_width_matches_the_original_size() -> None:
    model = AnglerFISH(ModelSpec(width=1.0))
    parameters = sum(p.numel() for p in model.parameters())
    # The original float file was 19,744 kB: 4.9 M float32 parameters.
    assert parameters == 4_900_289
    assert model.stage2.down1[0].in_channels == 96 and model.stage2.up1[-2].num_features == 48
    assert model.stage1_647.bottleneck[0].out_channels == 192
    assert model.barcode_head[-1].out_channels == 16


def test_each_channel_has_its_own_stage_one() -> None:
    torch.manual_seed(0)
    model = AnglerFISH(ModelSpec(width=0.125)).eval()
    x = torch.randn(1, 16, 16, 16)
    changed = x.clone()
    changed[:, 8:] += 5.0  # only the 750 nm rounds
    with torch.no_grad():
        model.stage1_647.down1[0].weight.zero_()  # the 647 nm path no longer sees its input
        out, out_changed = model(x), model(changed)
    assert out.shape == (1, 17, 16, 16)
    assert not torch.allclose(out, out_changed)  # the 750 nm stage reads the 750 nm rounds
