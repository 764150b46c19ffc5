"""CLI start-up benchmark: `tessera --help`, `tessera --version` and a subcommand's --help, against
`python -c pass` measured in the same run (machines here are noisy). Target: --help <= 10x python -c pass.
Writes bench/results/cli_startup.json.

    python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_RATIO = 10.0


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    baseline = median_seconds([py, "-c", "pass"], args.runs)
    cases = {
        "tessera --help": [py, "-m", "tessera", "--help"],
        "tessera --version": [py, "-m", "tessera", "--version"],
        "tessera market --help": [py, "-m", "tessera", "market", "--help"],
    }
    results = {name: median_seconds(argv, args.runs) for name, argv in cases.items()}
    ratios = {name: round(t / baseline, 2) for name, t in results.items()}
    out = {"machine": platform.machine(), "python": platform.python_version(), "runs": args.runs,
           "baseline_python_c_pass_s": round(baseline, 4), "seconds": {k: round(v, 4) for k, v in results.items()},
           "ratio_to_baseline": ratios, "target_help_ratio": TARGET_RATIO,
           "help_meets_target": ratios["tessera --help"] <= TARGET_RATIO}
    Path(__file__).with_name("results").mkdir(exist_ok=True)
    (Path(__file__).with_name("results") / "cli_startup.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"python -c pass        {baseline * 1000:8.1f} ms (baseline)")
    for name, t in results.items():
        print(f"{name:<22}{t * 1000:8.1f} ms  {ratios[name]:6.2f}x")
    print(f"--help target <= {TARGET_RATIO:g}x: {'met' if out['help_meets_target'] else 'NOT MET'}")
    return 0 if out["help_meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
