"""`smallmines tour`: wall time by step, against its limit of 3 minutes on 2 cores (issue 26).

    python -m benchmarks.tour                 # the defaults a newcomer gets: 16 tiles, 20 trees, 200 points
    python -m benchmarks.tour --tiles 4       # quick

The tour runs as a newcomer runs it: ``smallmines tour`` in a fresh Python
process (the start and the imports count), into a new folder, ``--repeat``
times; each step's time is the one the tour prints, the total is the
process's wall time. The slowest run is compared with the limit, since the
limit must hold on a busy machine too. Exits 1 when a run is over the limit.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smallmines_classic.defaults import TOUR_POINTS, TOUR_TILES, TOUR_TREES

LIMIT_S = 180.0
_DONE = re.compile(r" {6}(\d+\.\d) s -> ")
_STEP = re.compile(r"\[\d/8\] (\w+): ")


def run_once(folder, args):
    """One tour in a fresh process: (wall seconds, {step: seconds})."""
    command = [sys.executable, "-m", "smallmines_classic.cli", "tour", "-o", str(folder), "--tiles", str(args.tiles),
               "--trees", str(args.trees), "--points", str(args.points)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    steps, name = {}, None
    for line in done.stdout.splitlines():
        if _STEP.match(line):
            name = _STEP.match(line)[1]
        elif _DONE.match(line):
            steps[name] = float(_DONE.match(line)[1])
    return wall, steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=TOUR_TILES)
    parser.add_argument("--trees", type=int, default=TOUR_TREES)
    parser.add_argument("--points", type=int, default=TOUR_POINTS)
    parser.add_argument("--repeat", type=int, default=2, help="runs (default: 2)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.repeat):
            runs.append(run_once(Path(scratch) / f"tour{index}", args))
    slowest = max(wall for wall, _ in runs)
    print(f"smallmines tour --tiles {args.tiles} --trees {args.trees} --points {args.points}: {args.repeat} runs "
          f"on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"{'step':<10}" + "".join(f"{f'run {i + 1}':>10}" for i in range(len(runs))))
    for step in runs[0][1]:
        print(f"{step:<10}" + "".join(f"{steps[step]:>9.1f}s" for _, steps in runs))
    print(f"{'total':<10}" + "".join(f"{wall:>9.1f}s" for wall, _ in runs)
          + f"   (slowest / limit of {LIMIT_S:.0f} s: {slowest / LIMIT_S:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "limit_s": LIMIT_S,
                                               "runs": [{"wall_s": wall, "steps_s": steps} for wall, steps in runs]},
                                              indent=2))
    return 0 if slowest <= LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
