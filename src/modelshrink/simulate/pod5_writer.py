"""pod5 output through ONT's `pod5` package (VBZ-compressed signal, as MinKNOW writes it).

Calibration, channel, mux and read number are the same as in the fast5 output, so
`pod5 convert to_fast5`-style comparisons between the two files hold sample for sample.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from pathlib import Path

from modelshrink.simulate.fast5_writer import RUN_ID
from modelshrink.simulate.reads import SimulatedRead
from modelshrink.simulate.sink import RawSignalSink

ADC_MIN, ADC_MAX = -4096, 4095


class Pod5Writer(RawSignalSink):
    """Streams reads into one pod5 file."""

    suffix = ".pod5"

    def _open(self, temporary: Path, stack: contextlib.ExitStack) -> None:
        import pod5

        temporary.unlink()  # pod5 refuses to overwrite the placeholder
        self._writer = stack.enter_context(
            pod5.Writer(temporary, software_name="modelshrink simulate")
        )
        start = datetime.datetime(2019, 1, 1, tzinfo=datetime.UTC)
        self._run_info = pod5.RunInfo(
            acquisition_id=RUN_ID,
            acquisition_start_time=start,
            adc_max=ADC_MAX,
            adc_min=ADC_MIN,
            context_tags={"experiment_type": "genomic_dna", "sequencing_kit": "sqk-lsk109"},
            experiment_name="modelshrink simulated R9.4.1",
            flow_cell_id="SIM00001",
            flow_cell_product_code="FLO-MIN106",
            protocol_name="simulated",
            protocol_run_id=RUN_ID,
            protocol_start_time=start,
            sample_id=self.sample_id,
            sample_rate=int(self.sampling_rate),
            sequencing_kit="sqk-lsk109",
            sequencer_position="MN00000",
            sequencer_position_type="minion",
            software="modelshrink simulate",
            system_name="simulated",
            system_type="simulated",
            tracking_id={"run_id": RUN_ID, "sample_id": self.sample_id},
        )

    def add(self, read: SimulatedRead) -> None:
        import pod5

        signal = read.signal
        self._writer.add_read(
            pod5.Read(
                read_id=uuid.UUID(read.layout.read_id),
                pore=pod5.Pore(channel=read.channel, well=read.mux, pore_type="not_set"),
                calibration=pod5.Calibration.from_range(
                    signal.offset, signal.range_pa, signal.digitisation
                ),
                read_number=read.read_number,
                start_sample=read.start_time,
                median_before=read.median_before,
                end_reason=pod5.EndReason(pod5.EndReasonEnum.SIGNAL_POSITIVE, forced=False),
                run_info=self._run_info,
                signal=signal.raw,
            )
        )
