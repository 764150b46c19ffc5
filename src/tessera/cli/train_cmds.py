"""`tessera train ...`: bit-reproducible training (docs/training.md)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import handle_errors, json_option
from .output import emit


@click.group()
def train() -> None:
    """Bit-reproducible training: train a task locally (the training market comes next)."""


@train.command("run")
@click.argument("task_path", metavar="TASK.yaml", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Directory for the weights, checkpoints and per-step state hashes.")
@json_option
@handle_errors
def run_cmd(task_path: Path, out: Path, as_json: bool) -> None:
    """Train TASK.yaml here; print the weights hash, the checkpoint root and the test accuracy."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..training.run import run_task
    from ..training.task import load_task

    task = load_task(task_path)
    if as_json:
        result = run_task(task, task_path.parent, out)
    else:
        with Progress(TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                      TimeRemainingColumn(), transient=True) as progress:
            bar = progress.add_task("train", total=task.train.steps)
            result = run_task(task, task_path.parent, out,
                              on_step=lambda step, _: progress.update(bar, completed=step))
    emit(as_json, result.to_json(), result.render)
