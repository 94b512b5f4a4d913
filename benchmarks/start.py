"""How quickly the command starts: ``smallmines --help`` and every ``smallmines COMMAND --help`` against bare Python.

    python -m benchmarks.start                   # 9 runs of each; exit 1 if a median is over 5x bare Python's
    python -m benchmarks.start --runs 21 --limit 5 --before /path/to/an/older/checkout

Each command runs in a fresh interpreter, as a user starts it: the ``smallmines`` console script beside this
Python (else ``python -m smallmines_classic.cli``), with this checkout first on ``PYTHONPATH``. The reference,
``python -c pass``, runs in the same rounds: every round runs each command once, in turn, so that a load that
comes and goes on the machine touches all of them alike. The table gives each median wall time and its ratio to
the reference's median; ``--before`` adds ``smallmines --help`` from another checkout (the code before the lazy
start) for comparison, outside the limit.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _smallmines():
    """How a user starts the command here: the console script beside this Python, else ``-m``."""
    script = Path(sys.executable).with_name("smallmines")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "smallmines_classic.cli"]


def _env(root):
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}


def _commands():
    sys.path.insert(0, str(ROOT))
    from smallmines_classic.cli import build_parser

    return list(build_parser()._subparsers._group_actions[0].choices)


def measure(runs, before=None):
    """Median wall time in seconds of each command line, measured in ``runs`` interleaved rounds."""
    smallmines = _smallmines()
    lines = {"python -c pass": ([sys.executable, "-c", "pass"], _env(ROOT)),
             "smallmines --help": ([*smallmines, "--help"], _env(ROOT))}
    lines.update({f"smallmines {name} --help": ([*smallmines, name, "--help"], _env(ROOT)) for name in _commands()})
    if before:
        lines[f"smallmines --help ({Path(before).name}, before)"] = ([*smallmines, "--help"], _env(before))
    times = {label: [] for label in lines}
    for _ in range(runs):
        for label, (argv, env) in lines.items():
            started = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - started)
    return {label: statistics.median(values) for label, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="rounds; each runs every command once (default: 9)")
    parser.add_argument("--limit", type=float, default=5.0, help="largest ratio to bare Python allowed (default: 5)")
    parser.add_argument("--before", help="another checkout whose 'smallmines --help' is measured for comparison")
    args = parser.parse_args(argv)

    medians = measure(args.runs, args.before)
    reference = medians["python -c pass"]
    print(f"| command line | median of {args.runs} | x bare Python |\n|---|---|---|")
    over = []
    for label, seconds in medians.items():
        ratio = seconds / reference
        print(f"| `{label}` | {seconds * 1000:.0f} ms | {ratio:.2f}x |")
        if ratio > args.limit and "before" not in label:
            over.append(label)
    if over:
        print(f"over {args.limit:g}x bare Python: {', '.join(over)}", file=sys.stderr)
        return 1
    print(f"\nevery command's help within {args.limit:g}x bare Python")
    return 0


if __name__ == "__main__":
    sys.exit(main())
