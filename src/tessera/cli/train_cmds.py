"""`tessera train ...`: bit-reproducible training (docs/training.md)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import TrainingError
from .options import (AMOUNT, UINT64, account_option, deployed, fmt_time, handle_errors, json_option,
                      password_file_option, resolve_signer, settings_from)
from .output import emit


@click.group()
def train() -> None:
    """Bit-reproducible, verifiable training: train locally, post tasks, run solver and verifier nodes (docs/training.md)."""


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


def _node_options(fn: Any) -> Any:
    options: list[Callable[[Any], Any]] = [
        click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
                     help="Node YAML (docs/training.md, \"nodes\")."),
        click.option("--interval", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True,
                     help="Seconds between passes."),
        click.option("--once", is_flag=True, help="One pass, then exit (prints what it did)."),
        account_option, password_file_option, json_option, click.pass_context, handle_errors,
    ]
    for option in reversed(options):  # the first listed is the outermost, as when written as decorators
        fn = option(fn)
    return fn


def _serve(node: Any, log: Any, host: str, port: int, interval: float, once: bool, as_json: bool) -> None:
    from ..training_node.api import create_app
    from .serve import serve_node

    def on_report(report: Any) -> None:
        for event, text in report.actions:
            log.event(event, text)
        for error in report.errors:
            log.error("error", error)

    if once:
        report = node.step()
        on_report(report)
        emit(as_json, {"node": node.address, "role": node.role, "actions": [t for _, t in report.actions],
                       "errors": report.errors, "tasks": node.journal.counts()},
             f"{node.role} {node.address}: {len(report.actions)} action(s), {len(report.errors)} error(s)")
        return
    log.event("start", f"{node.role} serving on {host}:{port}", host=host, port=port)
    serve_node(create_app(node), lambda stop: node.run(stop, interval, on_report), host, port)


@train.group("solver")
def solver_group() -> None:
    """The solver node: claims tasks it holds the spec of, trains, commits, serves its states, defends them."""


@solver_group.command("run")
@_node_options
def solver_run_cmd(ctx: click.Context, config_path: Path, interval: float, once: bool, account: str | None,
                   password_file: Path | None, as_json: bool) -> None:
    """Run the solver node. State: <data dir>/training/solver/<address>/."""
    from ..protocol.faucet import top_up_on_devnet
    from ..training_node import SolverNode
    from ..training_node.config import load_solver_file
    from ..units import units_text
    from .nodelog import NodeLog

    settings = settings_from(ctx)
    with deployed(settings) as (chain, d):
        signer = resolve_signer(settings, chain, account, password_file)
        node_file, node_settings = load_solver_file(config_path, int(d.stablecoin.call("decimals")))
        node = SolverNode(chain, d, signer, settings.data_dir / "training" / "solver" / signer.address.lower(),
                          node_settings)
        for text, base in node_file.specs:
            node.add_spec(text, base)
        log = NodeLog(f"solver {node.address[:10]}", as_json=as_json)
        bond = int(d.training.call("solverBond"))
        for token, amount in top_up_on_devnet(chain, d, node.address, tsr=2 * bond).items():
            log.event("funded", f"devnet: funded {units_text(amount, 18)} TSR from the deployer for bonds",
                      token=token, amount=str(amount))
        _serve(node, log, node_file.host, node_file.port, interval, once, as_json)


@train.group("verifier")
def verifier_group() -> None:
    """The verifier node: audits committed tasks, signs off or challenges, and plays the dispute game."""


@verifier_group.command("run")
@_node_options
def verifier_run_cmd(ctx: click.Context, config_path: Path, interval: float, once: bool, account: str | None,
                     password_file: Path | None, as_json: bool) -> None:
    """Run the verifier node. State: <data dir>/training/verifier/<address>/."""
    from ..protocol.faucet import top_up_on_devnet
    from ..training_node import SolverSource, VerifierNode
    from ..training_node.config import load_verifier_file
    from ..units import units_text
    from .nodelog import NodeLog

    settings = settings_from(ctx)
    with deployed(settings) as (chain, d):
        signer = resolve_signer(settings, chain, account, password_file)
        node_file, node_settings, solvers = load_verifier_file(config_path)
        node = VerifierNode(chain, d, signer, settings.data_dir / "training" / "verifier" / signer.address.lower(),
                            SolverSource(solvers), node_settings)
        for text, base in node_file.specs:
            node.add_spec(text, base)
        log = NodeLog(f"verifier {node.address[:10]}", as_json=as_json)
        want = max(node_settings.stake, int(d.training.call("verifierMinStake")))
        have = int(d.training.call("verifiers", node.address)[0])
        for token, amount in top_up_on_devnet(chain, d, node.address, tsr=max(want - have, 0)).items():
            log.event("funded", f"devnet: funded {units_text(amount, 18)} TSR from the deployer for the stake",
                      token=token, amount=str(amount))
        added = node.ensure_staked()
        if added:
            log.event("staked", f"staked {units_text(added, 18)} TSR", amount=str(added))
        _serve(node, log, node_file.host, node_file.port, interval, once, as_json)


@train.command("dispute")
@click.argument("task_id", type=UINT64)
@json_option
@click.pass_context
@handle_errors
def dispute_cmd(ctx: click.Context, task_id: int, as_json: bool) -> None:
    """The disputes over a training task: who challenged which step, the stage, the rounds, the outcome."""
    from ..training.dispute import DisputeView
    from ..training.protocol import TrainingMarketClient

    with deployed(settings_from(ctx)) as (chain, d):
        client = TrainingMarketClient(d)
        if task_id >= int(d.training.call("taskCount")):
            raise TrainingError(f"there is no training task {task_id}: `tessera train submit` posts one")
        # Opened(disputeId indexed, taskId indexed, ...): any dispute id, this task
        opened = d.training_disputes.get_events("Opened", topics=[None, task_id.to_bytes(32, "big")])
        views = [DisputeView.read(client, int(e.args["disputeId"])) for e in opened]
    body = {"task_id": task_id, "disputes": [v.to_json() for v in views]}

    def text() -> str:
        if not views:
            return f"task {task_id}: no dispute"
        lines = [f"task {task_id}: {len(views)} dispute(s)"]
        for v in views:
            state = (("the solver lost" if v.solver_lost else "the challenger lost") if v.stage == "done"
                     else f"{v.stage}, {'the solver' if v.solver_to_move else 'the challenger'} to move by "
                          f"{fmt_time(v.deadline)}")
            lines.append(f"  dispute {v.id}: step {v.step}, challenger {v.challenger}, {v.rounds} moves, {state}")
        return "\n".join(lines)

    emit(as_json, body, text)


@train.command("fetch")
@click.argument("task_id", type=UINT64)
@click.option("--from", "solvers", multiple=True, required=True, help="A solver node's URL (repeatable).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Directory for weights.npz (then `tessera train export DIR --onnx M.onnx`).")
@click.option("--task", "task_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The task's YAML, when no solver serves it (its hash must be the posted one).")
@json_option
@click.pass_context
@handle_errors
def fetch_cmd(ctx: click.Context, task_id: int, solvers: tuple[str, ...], out: Path, task_path: Path | None,
              as_json: bool) -> None:
    """Fetch a task's trained weights from a solver, checked against the weights hash committed on chain."""
    from ..training.protocol import TrainingMarketClient
    from ..training_node.fetch import fetch_weights
    from ..training_node.source import SolverSource

    spec = (task_path.read_bytes(), task_path.parent) if task_path is not None else None
    with deployed(settings_from(ctx)) as (chain, d):
        if task_id >= int(d.training.call("taskCount")):
            raise TrainingError(f"there is no training task {task_id}: `tessera train submit` posts one")
        result = fetch_weights(TrainingMarketClient(d), task_id, SolverSource(list(solvers)), out, spec)
    emit(as_json, result.to_json(), result.render)
