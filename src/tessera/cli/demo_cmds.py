"""`tessera demo`: the whole story on an in-memory embedded chain."""

from __future__ import annotations

import sys

import click

from ..demo import StageResult, run_demo
from .options import json_option
from .output import emit


@click.command()
@click.option("--stage", "stages", multiple=True, help="Run only these stages (repeatable).")
@json_option
def demo(stages: tuple[str, ...], as_json: bool) -> None:
    """Run the Tessera story end to end on an in-memory embedded chain and report each stage."""

    def show(result: StageResult) -> None:
        if as_json:
            return
        mark = "ok " if result.ok else "FAIL"
        click.echo(f"\n[{mark}] {result.name} ({result.seconds:.2f} s)")
        for line in result.lines:
            click.echo(f"  {line}")
        if result.error:
            click.echo(f"  error: {result.error}")

    if not as_json:
        click.echo("Tessera demo: the embedded chain, in memory; nothing is written to disk.")
    report = run_demo(only=list(stages) or None, progress=show)
    summary = f"\n{sum(s.ok for s in report.stages)}/{len(report.stages)} stages ok"
    emit(as_json, report.to_dict(), summary)
    sys.exit(0 if report.ok else 1)
