"""merFISH family: simulate tiles, train the anglerFISH U-Net, shrink it, measure the cost.

Modules, one job each: `codebook` (barcodes), `simulate` (tiles + original dataset layout),
`dataset` (read and check that layout), `spec` (typed settings of the merfish: section),
`model` (the two-stage U-Net), `train` (losses and the training loop), `quantize` (fp16,
dynamic int8, PT2E static int8 and QAT), `prune` (magnitude pruning with masks),
`model_variants` (one variant made end to end), `storage` (each variant's file and its
size, in the toolbox's format), `stats` (parameters and MACs), `inference` with
`int8_lowering` and `int8_glue` (how a variant runs, and its time per tile), `metrics`
(accuracy, Jaccard, PR/ROC), `evaluate` (a variant scored on a split) and
`probability_maps` (the maps figure of one variant).
"""
