"""Sensitivity scans: how much each tensor alone can be pruned or quantized, and variants
proposed from the scan (per-layer sparsities and bit-widths within a budget)."""

#: the variant name a proposal is written under; the report marks it as proposed
PROPOSED_VARIANT = "proposed"
