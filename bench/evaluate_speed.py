"""How long `modelshrink evaluate` takes on a bacterial-size problem (issue 6 target: seconds).

Generates a random 5 Mb genome with ~30k truth variants (90 % SNPs, 10 % indels, with
homopolymer runs planted so indels can be written in more than one place) and a query set
perturbed the way real calls differ: 2 % of truth calls missed, 2 % extra false calls,
indels in homopolymers written at the other end of the run, neighbouring SNPs merged into
MNP records, a few calls filtered. Prints the evaluation time next to the record counts and
the resulting SNP/INDEL recall and precision. A number printed, never asserted.

    .venv/bin/python bench/evaluate_speed.py [--genome-mb 5] [--variants 30000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from modelshrink.evaluate.vcfcompare import compare_vcfs, write_outputs

TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}


def make_genome(length: int, rng: random.Random) -> str:
    bases = rng.choices("ACGT", k=length)
    for start in range(500, length - 20, 1_000):  # a homopolymer every kb
        bases[start] = "G"
        bases[start + 1 : start + 7] = "AAAAAA"
        bases[start + 7] = "C"
    return "".join(bases)


def near_homopolymer(pos: int) -> bool:
    """True within 20 bp of a planted run (0-based G at 500 mod 1000)."""
    return 480 <= (pos - 1) % 1_000 < 530


def make_truth(genome: str, count: int, rng: random.Random) -> list[tuple[int, str, str]]:
    """(1-based pos, REF, ALT), sorted; SNPs and insertions keep clear of the planted runs,
    whose first A is deleted in every tenth record."""
    spacing = len(genome) // count
    records = set()
    for i in range(count):
        pos = i * spacing + rng.randrange(10, spacing - 10)
        if i % 10 == 0:
            records.add(((pos // 1_000) * 1_000 + 501, "GA", "G"))  # the run's G, 1-based
            continue
        if near_homopolymer(pos):
            pos += 60
        base = genome[pos - 1]
        alt = base + rng.choice("ACGT") if i % 10 == 5 else TRANSITION[base]
        records.add((pos, base, alt))
    return sorted(records)


def perturb(genome: str, truth: list[tuple[int, str, str]], rng: random.Random) -> list[tuple]:
    """(pos, REF, ALT, FILTER) query records."""
    query = []
    taken = {pos for pos, _, _ in truth}
    for pos, ref, alt in truth:
        roll = rng.random()
        if roll < 0.02:
            continue  # missed
        if ref == "GA" and alt == "G" and roll < 0.5:
            query.append((pos + 5, "AA", "A", "PASS"))  # same deletion, last A of the run
        elif len(ref) == len(alt) == 1 and roll < 0.05 and pos + 1 not in taken:
            nxt = genome[pos]  # merge with a false SNP on the next base into one MNP
            query.append((pos, ref + nxt, alt + TRANSITION[nxt], "PASS"))
        else:
            query.append((pos, ref, alt, "LowQual" if roll > 0.99 else "PASS"))
    for _ in range(len(truth) // 50):  # false positives, clear of other records
        pos = rng.randrange(1, len(genome))
        if near_homopolymer(pos) or taken & set(range(pos - 2, pos + 3)):
            continue
        base = genome[pos - 1]
        query.append((pos, base, TRANSITION[base], "PASS"))
    return sorted(query)


def write_vcf(path: Path, records: list[tuple], genome_length: int) -> None:
    lines = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID=chr,length={genome_length}>",
        '##FILTER=<ID=LowQual,Description="low quality">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE",
    ]
    for pos, ref, alt, *rest in records:
        lines.append(f"chr\t{pos}\t.\t{ref}\t{alt}\t30\t{rest[0] if rest else 'PASS'}\t.\tGT\t1")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genome-mb", type=float, default=5.0)
    parser.add_argument("--variants", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    genome = make_genome(int(args.genome_mb * 1_000_000), rng)
    truth = make_truth(genome, args.variants, rng)
    query = perturb(genome, truth, rng)
    with tempfile.TemporaryDirectory(prefix="modelshrink-bench-") as folder:
        root = Path(folder)
        (root / "ref.fa").write_text(f">chr\n{genome}\n")
        write_vcf(root / "truth.vcf", truth, len(genome))
        write_vcf(root / "query.vcf", query, len(genome))
        started = time.perf_counter()
        comparison = compare_vcfs(root / "truth.vcf", root / "query.vcf", root / "ref.fa")
        compared = time.perf_counter()
        write_outputs(comparison, root / "out" / "bench")
        finished = time.perf_counter()
    print(f"genome {len(genome):,} bp, truth {len(truth):,} records, query {len(query):,} records")
    print(
        f"compare {compared - started:.2f} s, write outputs {finished - compared:.2f} s, "
        f"total {finished - started:.2f} s"
    )
    for row in comparison.rows:
        print(
            f"  {row['Type']:5} {row['Filter']:4} truth {row['TRUTH.TOTAL']:6} "
            f"TP {row['TRUTH.TP']:6} FN {row['TRUTH.FN']:5} FP {row['QUERY.FP']:5} "
            f"recall {row['METRIC.Recall']:.4f} precision {row['METRIC.Precision']:.4f}"
        )


if __name__ == "__main__":
    main()
