"""The shared config -> spec parser: key names, value types, nested sections, validation."""

from __future__ import annotations

import dataclasses

import pytest

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.spec import ModelSpec, SimulationSpec
from modelshrink.simulate.specs import GenomicVariantSpec, ReadSpec, SignalSpec
from modelshrink.toolbox.config_spec import spec_from_mapping


@dataclasses.dataclass(frozen=True)
class _Checked:
    count: int = 1

    def validate(self, where: str) -> None:
        if self.count > 3:
            raise ModelshrinkError(f"{where}.count: expected at most 3")


def test_values_are_typed_and_defaults_kept() -> None:
    spec = spec_from_mapping(ReadSpec, {"coverage": 5, "signal": {"noise_scale": 2}}, "reads")
    assert spec.coverage == 5.0 and isinstance(spec.coverage, float)
    assert spec.signal.noise_scale == 2.0
    assert spec.signal.dwell_shape == SignalSpec().dwell_shape
    assert spec.min_length == 500
    assert spec_from_mapping(GenomicVariantSpec, {"sample_name": 7}, "v").sample_name == "7"
    assert spec_from_mapping(ModelSpec, {"width": 1}, "m") == ModelSpec(width=1.0)
    assert spec_from_mapping(ReadSpec, None, "reads") == ReadSpec()


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        (SimulationSpec, {"image_sise": 32}, r"^sim: unknown key\(s\) image_sise; expected some"),
        (SimulationSpec, {"image_size": 32.5}, r"^sim\.image_size: expected int, got 32\.5"),
        (SimulationSpec, {"seed": True}, r"^sim\.seed: expected int, got True"),
        (SimulationSpec, {"photons": "many"}, r"^sim\.photons: expected float, got 'many'"),
        (ReadSpec, {"signal": 3}, r"^sim\.signal: expected a mapping of signal settings"),
        (ReadSpec, {"signal": {"noise": 1}}, r"^sim\.signal: unknown key\(s\) noise"),
        (SimulationSpec, {"image_size": 30}, r"^sim\.image_size: expected a multiple of 4"),
        (_Checked, {"count": 4}, r"^sim\.count: expected at most 3"),
    ],
)
def test_mistakes_name_the_dotted_key(kind: type, values: dict, message: str) -> None:
    with pytest.raises(ModelshrinkError, match=message):
        spec_from_mapping(kind, values, "sim")
