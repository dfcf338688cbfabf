"""Shrinking the flip-flop GRU: the basecaller-specific part of compression.

On top of the family-neutral `modelshrink.toolbox`: `layout` maps the architecture onto
Taiyaki's parameter names, `spec` parses a variant description, `cost` counts parameters
and multiply-accumulates, `structured_prune` removes whole units, `obs_prune` prunes by
Optimal Brain Surgeon, `dynamic_int8` wraps int8 execution of GRUs (`int8_gru`, on the
kernel `int8_path` picks for the CPU) and linear layers, `finetune` retrains with masks
or fake quantization on batches from `training_set` (read by `training_sources` from
`training_chunks` files and raw reads; on the labels, `crf_loss`, or by distillation
from the original), and `model_variant` chains them into one variant file and its
report.
"""
