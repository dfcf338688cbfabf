"""Size and cost of one stored variant, measured from the file itself.

Why measure here rather than trust the compress report: the original model has no
compress job, and every variant must be counted the same way (bytes on disk, zeros
stored densely are no saving) for the compression ratio to mean anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelshrink.atomic import write_text_atomic


def model_stats(path: Path) -> dict[str, Any]:
    """Bytes, parameters, non-zeros, bits/parameter and MACs per raw sample of a model."""
    from modelshrink.basecaller.compress.cost import model_cost
    from modelshrink.toolbox.storage import load_model

    path = Path(path)
    model = load_model(path)
    file_bytes = path.stat().st_size
    cost = model_cost(model.architecture, model.tensors, file_bytes)
    return {
        "path": str(path),
        "bytes": file_bytes,
        "parameters": cost.parameters,
        "nonzero_parameters": cost.nonzero_parameters,
        "bits_per_parameter": cost.bits_per_parameter,
        "macs_per_sample": cost.macs_per_sample,
        "sparse_macs_per_sample": cost.sparse_macs_per_sample,
    }


def write_model_stats(path: Path, output: Path) -> dict[str, Any]:
    stats = model_stats(path)
    write_text_atomic(output, json.dumps(stats, indent=2) + "\n")
    return stats
