"""Variant specs: parsed once, every mistake named by its config key."""

from __future__ import annotations

from pathlib import Path

import pytest
from compress_fixtures import taiyaki_state_dict

from modelshrink.basecaller.compress.spec import FinetuneSpec, parse_variant, parse_variants
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.quantize import PerChannelConfig, ScaleQuantConfig

NAMES = list(taiyaki_state_dict())


def test_full_variant_parses_to_typed_spec(tmp_path: Path) -> None:
    data_txt = tmp_path / "data.txt"
    data_txt.write_text("sublayers.0.conv.weight\n0.1\n")
    spec = parse_variant(
        "pruned50",
        {
            "prune": {
                "sparsity": {"sublayers.*.cudnn_gru.weight_hh_l0": 0.5},
                "data_txt": str(data_txt),
            },
            "quantize": {"scheme": "per_channel", "bits": 8},
            "finetune": {"steps": 10, "learning_rate": 0.001, "layerwise": True},
        },
        NAMES,
    )
    assert spec.prune.method == "magnitude"
    assert spec.prune.sparsity == {
        "sublayers.0.conv.weight": 0.1,
        "sublayers.*.cudnn_gru.weight_hh_l0": 0.5,
    }
    assert spec.quantize.config == PerChannelConfig(8) and spec.quantize.params == "all"
    assert spec.finetune == FinetuneSpec(steps=10, learning_rate=0.001, layerwise=True)


def test_original_scale_quant_with_a_list() -> None:
    spec = parse_variant(
        "q4",
        {
            "quantize": {
                "scheme": "scale",
                "bits": 4,
                "float_format": True,
                "params": ["sublayers.5.layer.cudnn_gru.weight_hh_l0"],
            }
        },
        NAMES,
    )
    assert spec.quantize.config == ScaleQuantConfig(4, float_format=True)
    assert spec.quantize.params == ("sublayers.5.layer.cudnn_gru.weight_hh_l0",)
    assert (
        parse_variants({"fp16": {"quantize": {"scheme": "fp16"}}})["fp16"].quantize.scheme
        == "float16"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"prune": {"sparsity": {"sublayers.2.cudnn_gru.weight_hh_l0": 1.0}}},
            r"prune\.sparsity\['sublayers\.2\.cudnn_gru\.weight_hh_l0'\]: sparsity 1\.0",
        ),
        (
            {"prune": {"sparsity": {"sublayers.2.cudnn_gru.weight_hh": 0.5}}},
            r"variants\.v\.prune\.sparsity: unknown parameter .*valid names: sublayers\.0",
        ),
        (
            {"prune": {"method": "random", "sparsity": {"x": 0.1}}},
            r"prune\.method: 'random' is not one of",
        ),
        ({"prune": {"method": "magnitude"}}, "give 'sparsity'"),
        ({"quantize": {"scheme": "scale", "bits": 9}}, r"quantize\.bits: 9 must be .* from 2 to 8"),
        ({"quantize": {"scheme": "scale", "bits": 1}}, r"quantize\.bits: 1"),
        ({"quantize": {"scheme": "int3"}}, r"quantize\.scheme: 'int3' is not one of"),
        ({"quantize": {"scheme": "ternary", "bits": 4}}, r"quantize\.bits: only the schemes"),
        ({"quantize": {"scheme": "per_channel", "float_format": True}}, "float_format: applies"),
        (
            {"quantize": {"scheme": "scale", "params": ["sublayers.9.conv.weight"]}},
            r"unknown variants\.v\.quantize\.params entry",
        ),
        (
            {"quantize": {"scheme": "dynamic_int8", "params": ["sublayers.6.linear.weight"]}},
            "use 'all'",
        ),
        (
            {
                "quantize": {"scheme": "scale"},
                "prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}},
                "order": ["quantize", "prune"],
            },
            r"order: quantizing before pruning makes no sense",
        ),
        ({"quantize": {"scheme": "scale"}, "finetune": {"steps": 5}}, "set finetune.qat: true"),
        (
            {"quantize": {"scheme": "dynamic_int8"}, "finetune": {"qat": True}},
            "other than dynamic_int8",
        ),
        ({"finetune": {"steps": 5}}, "nothing to fine-tune"),
        (
            {"prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}}, "finetune": {"steps": 0}},
            r"finetune\.steps: 0 must be > 0",
        ),
        (
            {"prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}}, "finetune": {"epochs": 3}},
            r"finetune: unknown key\(s\) \['epochs'\]",
        ),
        ({"prunes": {}}, r"variants\.v: unknown key\(s\) \['prunes'\]"),
        (
            {
                "prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}},
                "finetune": {"objective": "kd"},
            },
            r"finetune\.objective: 'kd' is not one of \['crf', 'distill', 'mixed'\]",
        ),
        (
            {
                "prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}},
                "finetune": {"distill_weight": 0.3},
            },
            r"finetune\.distill_weight: .* needs objective: mixed",
        ),
        (
            {
                "prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}},
                "finetune": {"objective": "mixed", "distill_weight": 1.0},
            },
            r"finetune\.distill_weight: 1\.0 must be in \(0, 1\)",
        ),
        (
            {
                "prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}, "iterations": 0},
                "finetune": {},
            },
            r"prune\.iterations: 0 must be > 0",
        ),
        (
            {"prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}, "iterations": 2}},
            r"prune\.iterations: .*add a 'finetune'",
        ),
        (
            {
                "prune": {
                    "method": "structured",
                    "sparsity": {"sublayers.1": 0.2},
                    "iterations": 2,
                },
                "finetune": {},
            },
            r"prune\.iterations: gradual pruning applies to the magnitude and global",
        ),
        (
            {"prune": {"method": "obs", "sparsity": {"sublayers.0.conv.weight": 0.5}}},
            r"^variants\.v\.prune\.sparsity: method obs prunes GRU weight matrices only, "
            r"not sublayers\.0\.conv\.weight; expected names or globs of GRU weights",
        ),
        (
            {"prune": {"method": "obs", "sparsity": {"sublayers.*.weight": 0.5}}},
            r"only, not sublayers\.0\.conv\.weight, sublayers\.6\.linear\.weight;",
        ),
        (
            {"prune": {"method": "structured", "sparsity": {"sublayers.6.linear.weight": 0.2}}},
            r"^variants\.v\.prune\.sparsity: sublayers\.6 is the output layer, whose units "
            r"structured pruning cannot remove; expected layers among sublayers\.0, .*5$",
        ),
        (
            {"prune": {"method": "structured", "sparsity": {"sublayers.*": 0.2}}},
            r"sublayers\.6 is the output layer",
        ),
        (
            {"prune": {"method": "structured", "sparsity": {"sublayers.9": 0.2}}},
            r"^variants\.v\.prune\.sparsity: unknown layer 'sublayers\.9'; valid names",
        ),
    ],
)
def test_bad_specs_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ModelshrinkError, match=message):
        parse_variant("v", raw, NAMES)


def test_structured_and_global_methods() -> None:
    spec = parse_variant(
        "s", {"prune": {"method": "structured", "sparsity": {"sublayers.[1-5]": 0.25}}}, NAMES
    )
    assert spec.prune.method == "structured"
    spec = parse_variant(
        "s",
        {"prune": {"method": "structured", "sparsity": {"sublayers.0.conv.weight": 0.1}}},
        NAMES,
    )
    assert spec.prune.sparsity == {"sublayers.0.conv.weight": 0.1}
    spec = parse_variant(
        "g", {"prune": {"method": "global", "sparsity": {"sublayers.*.weight_*": 0.5}}}, NAMES
    )
    assert spec.prune.method == "global"


def test_distillation_and_gradual_pruning_keys() -> None:
    spec = parse_variant(
        "kd",
        {
            "prune": {"sparsity": {"sublayers.*.cudnn_gru.weight_*": 0.5}, "iterations": 2},
            "finetune": {"steps": 5, "objective": "mixed", "distill_weight": 0.75},
        },
        NAMES,
    )
    assert spec.prune.iterations == 2
    assert spec.finetune == FinetuneSpec(steps=5, objective="mixed", distill_weight=0.75)
    assert FinetuneSpec().objective == "crf" and FinetuneSpec().distill_weight == 0.5


def test_dynamic_int8_takes_the_gru_code_width() -> None:
    spec = parse_variant("p", {"quantize": {"scheme": "dynamic_int8", "bits": 7}})
    assert (spec.quantize.scheme, spec.quantize.bits, spec.quantize.config) == (
        "dynamic_int8",
        7,
        None,
    )
    assert parse_variant("d", {"quantize": {"scheme": "dynamic_int8"}}).quantize.bits == 8
    with pytest.raises(ModelshrinkError, match=r"variants\.p\.quantize\.bits: 9 must be"):
        parse_variant("p", {"quantize": {"scheme": "dynamic_int8", "bits": 9}})
