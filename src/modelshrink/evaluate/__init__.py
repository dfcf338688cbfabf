"""Downstream accuracy of basecalls: read/assembly identity and small-variant comparison.

Each module has one job: `identity` scores reads and assemblies against a reference
(Wick et al. 2019 definitions), `vcfcompare` matches variant calls against a truth set
with hap.py-compatible output.
"""
