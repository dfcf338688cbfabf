"""The family-neutral compression toolbox: storage format, pruning and quantization maths.

Each module has one job: `storage` is the one on-disk format (and its size report;
`safetensors_layout` checks the framing), `names` turns the names and globs users write
into a model's parameter names, `prune` makes magnitude masks, `quantize` turns tensors
into encodings (`quantize_config` holds its torch-free configs, `sparsity` the torch-free
sparsity checks), `config_spec` parses typed settings from config mappings. It imports no
model family (tests/test_architecture.py checks); the families build on it.
"""
