"""The compression toolbox: storage format, pruning, quantization, cost accounting.

Each module has one job: `storage` is the one on-disk format (and its size report),
`prune` makes masks, `quantize` turns tensors into encodings (`quantize_config`
holds its torch-free configs, `sparsity` the torch-free sparsity checks), `spec` parses
a variant description, `cost` counts parameters and multiply-accumulates,
`dynamic_int8` wraps int8 execution of GRUs (`int8_gru`, on the kernel `int8_path`
picks for the CPU) and linear layers, `finetune` retrains with masks or fake
quantization on batches from `training_set` (on the labels, `crf_loss`, or by
distillation from the original), and `variant` chains them into one variant file
(gradual pruning included) and its report.
"""
