"""`tessera demo`: the whole story on an in-memory embedded chain."""

from __future__ import annotations

import os
import sys
import time

import click

from .options import handle_errors, json_option
from .output import emit

STAGES = ("chain", "deploy", "emission", "halving", "events", "market", "zkml", "subnet", "coprocessor", "payments", "agents",
          "training")


@click.command()
@click.option("--stage", "stages", multiple=True, type=click.Choice(STAGES),
              help="Run only these stages (repeatable); the stages they need run too.")
@json_option
@handle_errors
def demo(stages: tuple[str, ...], as_json: bool) -> None:
    """Run the Tessera story end to end on an in-memory embedded chain and report each stage.

    About 4 minutes on 2 cores with a warm zk cache; the first run also sets up zk keys (a minute or two more,
    cached under the data dir's zk/ folder, about 450 MB)."""
    from rich.console import Console

    from ..demo import TYPICAL_SECONDS, StageResult, plan, run_demo
    from ..zkml import default_cache_dir

    console = Console(stderr=True, highlight=False)
    selected = plan(list(stages) or None)
    total = sum(TYPICAL_SECONDS.get(n, 5) for n in selected)
    started = time.monotonic()
    status = None

    def on_start(name: str) -> None:
        nonlocal status
        if as_json:
            return
        done = time.monotonic() - started
        left = sum(TYPICAL_SECONDS.get(n, 5) for n in selected[selected.index(name):])
        text = f"running {name} (usually ~{TYPICAL_SECONDS.get(name, 5)} s; about {left} s left of ~{total} s)"
        if console.is_terminal:
            status = console.status(text)
            status.start()
        else:
            click.echo(f"... {text} [{done:.0f} s elapsed]")

    def show(result: StageResult) -> None:
        nonlocal status
        if status is not None:
            status.stop()
            status = None
        if as_json:
            return
        mark = "ok " if result.ok else "FAIL"
        click.echo(f"\n[{mark}] {result.name} ({result.seconds:.2f} s)")
        for line in result.lines:
            click.echo(f"  {line}")
        if result.error:
            click.echo(f"  error: {result.error}")
            if result.trace and os.environ.get("TESSERA_DEBUG"):
                click.echo(result.trace)

    if not as_json:
        click.echo(f"Tessera demo: {len(selected)} stage(s), about {total} s with a warm zk cache. The chain lives "
                   f"in memory; compiled zk keys are cached in {default_cache_dir()} so later runs skip setup.")
    report = run_demo(only=list(stages) or None, progress=show, on_start=on_start)
    summary = f"\n{sum(s.ok for s in report.stages)}/{len(report.stages)} stages ok"
    emit(as_json, report.to_dict(), summary)
    sys.exit(0 if report.ok else 1)
