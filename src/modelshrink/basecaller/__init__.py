"""The nanopore basecaller family: Taiyaki's flip-flop GRU, rebuilt without Taiyaki
(archived, pins torch 1.5), and everything that reads its inputs or shrinks it.

Reading inputs: `signal/` (fast5/pod5 raw reads), `checkpoint` with `restricted_pickle`
(Taiyaki checkpoints, never unpickling arbitrary code). The network: `layers`, `network`,
`gru_kernel`/`gru_extension` (the fused GRU steps). Running it: `flipflop` (decoding),
`basecall` (chunked batched inference), `model_file` (opening any stored variant),
`timing`, `seqio` (FASTQ/BAM out). Shrinking it: `compress/` (GRU-specific methods on
top of the family-neutral `modelshrink.toolbox`). The Taiyaki facts relied on are in
docs/TAIYAKI_FACTS.md.
"""
