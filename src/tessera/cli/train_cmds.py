"""`tessera train ...`: bit-reproducible training (docs/training.md)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import handle_errors, json_option
from .output import emit


@click.group()
def train() -> None:
    """Bit-reproducible training: train a task locally and export it (docs/training.md)."""


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


@train.command("export")
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option("--onnx", "onnx_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the ONNX model (raw features in, logits out).")
@json_option
@handle_errors
def export_cmd(run_dir: Path, onnx_path: Path, as_json: bool) -> None:
    """Write the weights of a `train run` directory as ONNX (for onnxruntime and `tessera zk compile`)."""
    from ..training.export import export_onnx

    result = export_onnx(run_dir, onnx_path)
    emit(as_json, result.to_json(), result.render)
