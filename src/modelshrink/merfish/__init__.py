"""merFISH family: simulate tiles, train the anglerFISH U-Net, shrink it, measure the cost.

Modules, one job each: `codebook` (barcodes), `simulate` (tiles + original dataset layout),
`dataset` (read and check that layout), `model` (the two-stage U-Net), `train` (losses and
the training loop), `quantize` (fp16, dynamic int8, PT2E static int8 and QAT), `prune`
(magnitude pruning with masks), `storage` (each variant's file and its size), `metrics`
(accuracy, Jaccard, PR/ROC), `timing` (inference time per tile) and `plots`.
"""
