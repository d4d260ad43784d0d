"""Compare two arms of ``fmnist_quality.py`` run in pairs: one row per seed, then the test.

Each arm is a set of ``--json`` files that ``fmnist_quality.py`` wrote, one per seed
(``{seed}`` in the pattern stands for it). Runs of the two arms with the same seed
were run together, so they shared the machine's speed of that hour: the comparison
is paired. For each of the three distances the benchmark reports (the final G
averaged with EMA half-life 10 kimg, the sweep's 5 kimg, and the live G) it prints
the mean of each arm, the mean difference, how many pairs the first arm won, and
two tests of "no difference": the paired t-test and the exact sign test (scipy).

    python benchmarks/paired_summary.py \\
        benchmarks/results/fmnist_progan_fused_time075_seed{seed}.json \\
        benchmarks/results/fmnist_dcgan_30min_seed{seed}.json --seeds 11 12 13
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scipy import stats

#: the distances each run's JSON holds, by the suffix of its row's name
MEASURES = {"EMA 10k (final)": "", "EMA 5k": ", EMA half-life 5 kimg", "live G": ", live G, no EMA"}


def distances(path: Path) -> dict[str, float]:
    """The run's Frechet distance for each of :data:`MEASURES`, from its JSON file."""
    rows = [r for r in json.loads(path.read_text())["rows"] if not r["name"].startswith("floor")]
    final = rows[0]["name"]  # the run's own row comes first, its sweep rows after it
    by_name = {r["name"]: r["frechet_distance"] for r in rows}
    return {measure: by_name[final + suffix] for measure, suffix in MEASURES.items()}


def main() -> None:
    """Print the per-seed table and the paired tests."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", help="the first arm's JSON files, with {seed} for the seed")
    parser.add_argument("second", help="the second arm's JSON files, with {seed} for the seed")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    args = parser.parse_args()
    pairs = {
        s: (distances(Path(args.first.format(seed=s))), distances(Path(args.second.format(seed=s))))
        for s in args.seeds
    }
    print("seed | " + " | ".join(f"{m}: first, second" for m in MEASURES))
    for seed, (first, second) in pairs.items():
        print(f"{seed} | " + " | ".join(f"{first[m]:.2f}, {second[m]:.2f}" for m in MEASURES))
    for measure in MEASURES:
        a = [pair[0][measure] for pair in pairs.values()]
        b = [pair[1][measure] for pair in pairs.values()]
        diff = [x - y for x, y in zip(a, b, strict=True)]
        wins = sum(d < 0 for d in diff)
        line = (
            f"{measure}: means {statistics.mean(a):.2f} vs {statistics.mean(b):.2f}, "
            f"difference {statistics.mean(diff):+.2f}; first lower in {wins} of {len(diff)}"
        )
        if len(diff) > 1:
            t = stats.ttest_rel(a, b)
            sign = stats.binomtest(wins, len(diff), 0.5)
            line += f"; paired t-test p={t.pvalue:.3f}, sign test p={sign.pvalue:.3f}"
        print(line)


if __name__ == "__main__":
    main()
