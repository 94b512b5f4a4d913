"""Bar chart of the ours / reference ratios saved by ``python -m benchmarks.classic --json FILE``.

    python -m benchmarks.plot_results results.json benchmarks/results_ratios.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv=None):
    source, target = (argv or sys.argv[1:])[:2]
    rows = [r for r in json.load(open(source)) if r["unit"] != "IoU"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1))
    ax.barh([r["benchmark"] for r in rows], [r["ratio"] for r in rows], color="#b5651d")
    ax.axvline(1, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("reference / ours (higher is better for us; 1 = same)")
    for y, r in enumerate(rows):
        ax.text(r["ratio"], y, f" {r['ratio']:.1f}x", va="center", fontsize=8)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(target, dpi=100)


if __name__ == "__main__":
    main()
