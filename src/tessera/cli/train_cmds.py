"""`tessera train ...`: bit-reproducible training (docs/training.md)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import click

from ..errors import TrainingError
from .options import (AMOUNT, UINT64, account_option, deployed, fmt_time, handle_errors, json_option,
                      password_file_option, resolve_signer, settings_from)
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


@train.command("submit")
@click.argument("task_path", metavar="TASK.yaml", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--fee", type=AMOUNT, required=True, help="The fee, in stablecoin units, paid to the solver.")
@click.option("--audit-level", type=click.IntRange(1, 256), default=44, show_default=True,
              help="Steps the audit draws (44: a solver faking 10% of its steps is caught with 99% probability).")
@click.option("--hours", type=click.FloatRange(0.01, 720), default=24.0, show_default=True,
              help="Time a solver has to train and commit after claiming.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def submit_cmd(ctx: click.Context, task_path: Path, fee: Decimal, audit_level: int, hours: float,
               account: str | None, password_file: Path | None, as_json: bool) -> None:
    """Post TASK.yaml on the TrainingMarket: its parameters, dataset commitment and fee."""
    from eth_utils import keccak

    from ..payments import PaymentAsset
    from ..training.protocol import TrainingMarketClient, task_params
    from ..training.task import load_dataset, load_task

    task = load_task(task_path)
    dataset = load_dataset(task.data, task_path.parent).commitment()
    settings = settings_from(ctx)
    with deployed(settings) as (chain, d):
        signer = resolve_signer(settings, chain, account, password_file)
        asset = PaymentAsset.read(chain, d.stablecoin.address)
        client = TrainingMarketClient(d)
        task_id = client.post(signer, task_params(task.config(), dataset), keccak(task_path.read_bytes()),
                              asset.base(fee), int(hours * 3600), audit_level)
        view = client.task(task_id)
    body = {**view.to_json(), "dataset_root": "0x" + dataset.root.hex(), "fee_text": asset.text(view.fee)}
    emit(as_json, body, lambda: view.text(asset.text(view.fee), fmt_time(view.deadline))
         + f"\n  dataset root 0x{dataset.root.hex()} ({dataset.n} training samples)")


@train.command("status")
@click.argument("task_id", type=UINT64)
@json_option
@click.pass_context
@handle_errors
def status_cmd(ctx: click.Context, task_id: int, as_json: bool) -> None:
    """A training task's state: solver, commitment, audit, disputes, deadlines."""
    from ..payments import PaymentAsset
    from ..training.protocol import TrainingMarketClient

    with deployed(settings_from(ctx)) as (chain, d):
        client = TrainingMarketClient(d)
        if task_id >= int(d.training.call("taskCount")):
            raise TrainingError(f"there is no training task {task_id}: `tessera train submit` posts one")
        view = client.task(task_id)
        asset = PaymentAsset.read(chain, d.stablecoin.address)
    emit(as_json, view.to_json(), lambda: view.text(asset.text(view.fee), fmt_time(view.deadline)))
