"""Multi-read fast5 (file_version 2.2) laid out like MinKNOW's R9.4.1 files.

Mirrors `../shared/data/taiyaki/multireads/*.fast5`: one group `read_<uuid>` per read
holding `Raw` (attributes duration, median_before, read_id, read_number, start_mux,
start_time; dataset `Signal` int16, gzip so that nanopolish needs no VBZ plugin),
`channel_id` (channel_number, digitisation, offset, range, sampling_rate), `context_tags`
and `tracking_id`. Attribute types (fixed-length byte strings, uint32 duration, ...)
follow the real files, so ont-fast5-api, nanopolish and Taiyaki read them unchanged.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import h5py
import numpy as np

from modelshrink.basecaller.compress.training_chunks import SIMULATED_RUN_ID
from modelshrink.simulate.reads import SimulatedRead
from modelshrink.simulate.sink import RawSignalSink

RUN_ID = SIMULATED_RUN_ID


def _bytes(text: str) -> np.bytes_:
    return np.bytes_(text.encode("ascii"))


class Fast5Writer(RawSignalSink):
    """Streams reads into one multi-read fast5."""

    suffix = ".fast5"

    def _open(self, temporary: Path, stack: contextlib.ExitStack) -> None:
        self._file = stack.enter_context(h5py.File(temporary, "w"))
        self._file.attrs["file_type"] = "multi-read"
        self._file.attrs["file_version"] = "2.2"

    def add(self, read: SimulatedRead) -> None:
        read_id = read.layout.read_id
        group = self._file.create_group(f"read_{read_id}")
        group.attrs["run_id"] = _bytes(RUN_ID)
        group.attrs["pore_type"] = _bytes("not_set")
        raw = group.create_group("Raw")
        raw.attrs["duration"] = np.uint32(len(read.signal.raw))
        raw.attrs["median_before"] = np.float64(read.median_before)
        raw.attrs["read_id"] = _bytes(read_id)
        raw.attrs["read_number"] = np.int32(read.read_number)
        raw.attrs["start_mux"] = np.uint8(read.mux)
        raw.attrs["start_time"] = np.uint64(read.start_time)
        raw.attrs["end_reason"] = np.uint8(4)  # signal_positive: the strand left the pore
        raw.create_dataset("Signal", data=read.signal.raw, compression="gzip", compression_opts=1)
        channel = group.create_group("channel_id")
        channel.attrs["channel_number"] = _bytes(str(read.channel))
        channel.attrs["digitisation"] = np.float64(read.signal.digitisation)
        channel.attrs["offset"] = np.float64(read.signal.offset)
        channel.attrs["range"] = np.float64(read.signal.range_pa)
        channel.attrs["sampling_rate"] = np.float64(self.sampling_rate)
        context = group.create_group("context_tags")
        context.attrs["experiment_type"] = _bytes("genomic_dna")
        context.attrs["sample_frequency"] = _bytes(str(int(self.sampling_rate)))
        context.attrs["sequencing_kit"] = _bytes("sqk-lsk109")
        context.attrs["basecall_config_filename"] = _bytes("dna_r9.4.1_450bps.cfg")
        tracking = group.create_group("tracking_id")
        tracking.attrs["run_id"] = _bytes(RUN_ID)
        tracking.attrs["sample_id"] = _bytes(self.sample_id)
        tracking.attrs["flow_cell_id"] = _bytes("SIM00001")
        tracking.attrs["device_type"] = _bytes("minion")
        tracking.attrs["exp_start_time"] = _bytes("2019-01-01T00:00:00Z")
        tracking.attrs["asic_id"] = _bytes("0")
