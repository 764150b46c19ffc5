"""Run every conservation state machine as deep as a time budget allows (`make fuzz`, FUZZ_MINUTES=N, default 30).

CI runs the same machines with a few examples each (tests/*/test_*_conservation.py). Here each machine gets an
equal share of the budget and runs batches of examples, each starting from a chain snapshot (the machines
revert to it in __init__, so an example costs its steps, not a deployment), until its share is spent. It prints
sequences and steps run per machine and, for a failure, Hypothesis's minimal failing example, then exits 1.

    FUZZ_MINUTES=30 python scripts/fuzz.py [--steps 50] [--only market,subnet,coprocessor]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

ROOT = Path(__file__).resolve().parents[1]
for sub in ("tests", "tests/market", "tests/subnet", "tests/coprocessor", "tests/training"):
    sys.path.insert(0, str(ROOT / sub))

MACHINES = {
    "market": ("test_market_conservation", "MarketConservation"),
    "subnet": ("test_subnet_conservation", "SubnetConservation"),
    "coprocessor": ("test_coordinator_conservation", "CoordinatorConservation"),
    "training": ("test_training_conservation", "TrainingConservation"),
}


def counted(machine: type) -> tuple[type, dict[str, int]]:
    """A subclass that counts sequences (constructions) and steps (invariant checks after each step)."""
    counts = {"sequences": 0, "checks": 0}

    class Counted(machine):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            counts["sequences"] += 1
            super().__init__()

        @invariant()
        def _count_steps(self) -> None:
            counts["checks"] += 1

    Counted.__name__ = machine.__name__
    return Counted, counts


def _public_model() -> Any:
    """The coprocessor machine's model: the test MLP with public input and output (compiled once, cached)."""
    import tempfile

    from zk_fixtures import mlp

    from tessera.zkml import ZkOptions, compile_model

    work = Path(tempfile.mkdtemp(prefix="tessera-fuzz-"))
    model, _ = compile_model(mlp(work / "mlp.onnx"), ZkOptions(input_visibility="public",
                                                                output_visibility="public"))
    return model


def run_machine(name: str, seconds: float, steps: int, batch: int) -> dict[str, Any]:
    module_name, class_name = MACHINES[name]
    module = importlib.import_module(module_name)
    base = getattr(module, class_name)
    if name == "coprocessor":
        base.model = _public_model()
    machine, counts = counted(base)
    start = time.monotonic()
    deadline = start + seconds
    batches = 0
    failure = None
    while time.monotonic() < deadline:
        # no database and generation only: every batch explores new sequences instead of replaying old ones
        config = settings(max_examples=batch, stateful_step_count=steps, deadline=None, database=None,
                          phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                          print_blob=True)
        try:
            run_state_machine_as_test(machine, settings=config)
        except Exception as e:  # a broken invariant: Hypothesis has printed the minimal example above
            failure = "".join(traceback.format_exception_only(type(e), e)).strip()
            break
        batches += 1
    # each sequence's invariants run once before its first step and once after each step
    return {"machine": name, "sequences": counts["sequences"], "steps": counts["checks"] - counts["sequences"],
            "seconds": round(time.monotonic() - start, 1), "failure": failure}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="steps per sequence (CI: 14-30)")
    ap.add_argument("--batch", type=int, default=5,
                    help="examples per Hypothesis run (the time budget is checked between runs)")
    ap.add_argument("--only", default=",".join(MACHINES))
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in MACHINES]
    if unknown:
        print(f"error: unknown machine(s) {', '.join(unknown)}: choose from {', '.join(MACHINES)}")
        return 2
    try:
        minutes = float(os.environ.get("FUZZ_MINUTES", "30"))
    except ValueError:
        print(f"error: FUZZ_MINUTES={os.environ['FUZZ_MINUTES']!r} is not a number of minutes: set e.g. FUZZ_MINUTES=30")
        return 2
    share = minutes * 60 / len(names)
    print(f"fuzz: {minutes:g} min over {len(names)} machine(s), {share / 60:.1f} min each, {args.steps} steps per "
          "sequence", flush=True)
    results = []
    for name in names:
        r = run_machine(name, share, args.steps, args.batch)
        results.append(r)
        status = "FAILED: " + r["failure"] if r["failure"] else "ok"
        print(f"{name:12s} {r['sequences']:6d} sequences {r['steps']:8d} steps {r['seconds']:8.1f} s  {status}",
              flush=True)
    total = sum(r["steps"] for r in results)
    print(f"total: {sum(r['sequences'] for r in results)} sequences, {total} steps")
    return 1 if any(r["failure"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
