"""`tessera subnet ...`: Yuma epochs and (with a deployed subnet) miner and validator nodes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

import click
import httpx
import numpy as np
from eth_account.signers.local import LocalAccount

from ..chain.base import Chain
from ..config import Settings
from ..errors import ConfigError, EpochInputError
from ..market.spec import load_yaml_mapping
from ..subnet.client import SubnetClient, SubnetHyper
from ..subnet.miner import create_miner_app, onnx_predictor
from ..subnet.validator import Dataset, SubnetValidator, ValidatorLoop, ValidatorStore
from ..subnet.yuma import run_epoch
from .options import (account_option, deployed, handle_errors, json_option, password_file_option, resolve_signer,
                   settings_from)
from .output import emit

TSR = 10**18


@click.group()
def subnet() -> None:
    """Incentive network: Yuma consensus epochs, subnets, miners and validators."""


@subnet.command()
@click.option("--state", "state_path", type=click.Path(path_type=Path), required=True,
              help="Epoch state JSON: yuma_version, hyperparameters, inputs (see docs/subnet.md).")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None,
              help="Write the result here instead of stdout.")
@click.option("--epoch", "epoch_index", type=int, default=None,
              help="For a fixture file holding several epochs: run epochs[K].inputs.")
@json_option
@handle_errors
def epoch(state_path: Path, out_path: Path | None, epoch_index: int | None, as_json: bool) -> None:
    """Run one Yuma epoch exactly as Bittensor's chain does and print (or write) the result as JSON."""
    state = _load_state(state_path, epoch_index)
    result = run_epoch(state)
    text = json.dumps(result, separators=(",", ":"))
    if out_path is None:
        click.echo(text)
        return
    try:
        out_path.write_text(text + "\n")
    except OSError as e:
        raise EpochInputError(f"cannot write {out_path} ({e.strerror}): check the directory exists") from e
    n = len(result["stake_bits"])
    emit(as_json, {"ok": True, "out": str(out_path), "n": n, "yuma_version": result["yuma_version"]},
         f"epoch of {n} UIDs ({result['yuma_version']}) written to {out_path}")


def _load_state(path: Path, epoch_index: int | None) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise EpochInputError(f"cannot read the state file {path} ({e.strerror}): check the path") from e
    except json.JSONDecodeError as e:
        raise EpochInputError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}") from e
    if isinstance(data, dict) and "epochs" in data and "inputs" not in data:
        epochs = data["epochs"]
        if epoch_index is None:
            raise EpochInputError(
                f"{path} holds {len(epochs)} epochs: choose one with --epoch K (0..{len(epochs) - 1})")
        if not 0 <= epoch_index < len(epochs):
            raise EpochInputError(f"--epoch {epoch_index} is out of range: {path} holds epochs 0..{len(epochs) - 1}")
        return {"yuma_version": data.get("yuma_version"), "hyperparameters": data.get("hyperparameters"),
                "inputs": epochs[epoch_index]["inputs"]}
    if epoch_index is not None:
        raise EpochInputError(f"--epoch applies to fixture files with an epochs list; {path} is a single state")
    return data  # type: ignore[no-any-return]


@contextlib.contextmanager
def subnet_client(settings: Settings) -> Iterator[tuple[Chain, SubnetClient]]:
    with deployed(settings) as (chain, deployment):
        yield chain, SubnetClient(chain, deployment)


def _local_account(signer: Any) -> LocalAccount:
    if not isinstance(signer, LocalAccount):
        raise ConfigError("subnet nodes sign EIP-712 results and answers: use a keystore account (--account)")
    return signer


@subnet.command("create")
@click.option("--max-uids", type=int, default=256, show_default=True)
@click.option("--max-validators", type=int, default=64, show_default=True)
@click.option("--tempo", type=int, default=360, show_default=True, help="Blocks between epochs.")
@click.option("--immunity", type=int, default=4096, show_default=True, help="Immunity period in blocks.")
@click.option("--reveal-window", type=int, default=360, show_default=True)
@click.option("--yuma", type=click.Choice(["yuma2", "yuma3", "yuma3_liquid"]), default="yuma3", show_default=True)
@click.option("--registration-cost", type=float, default=0.0, show_default=True, help="TSR per registration.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def create_cmd(ctx: click.Context, max_uids: int, max_validators: int, tempo: int, immunity: int,
               reveal_window: int, yuma: str, registration_cost: float, account: str | None,
               password_file: Path | None, as_json: bool) -> None:
    """Create a subnet (costs 100 TSR per existing subnet, recycled into emission)."""
    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        hyper = SubnetHyper(max_uids, max_validators, tempo, immunity, reveal_window, yuma_version=yuma)
        netuid = client.create_subnet(signer, hyper, int(registration_cost * TSR))
        emit(as_json, {"netuid": netuid, "owner": signer.address, "hyper": hyper.__dict__},
             f"created subnet {netuid} owned by {signer.address}")


@subnet.command("register")
@click.argument("netuid", type=int)
@click.option("--stake", "stake_tsr", type=float, default=0.0, help="Also stake this much TSR on the hotkey.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def register_cmd(ctx: click.Context, netuid: int, stake_tsr: float, account: str | None,
                 password_file: Path | None, as_json: bool) -> None:
    """Register the account as a neuron of NETUID (idempotent), optionally staking on it."""
    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        uid = client.register(signer, netuid)
        if stake_tsr > 0:
            client.stake(signer, netuid, signer.address, int(stake_tsr * TSR))
        stake = client.registry.call("stakeOf", netuid, signer.address)
        emit(as_json, {"netuid": netuid, "uid": uid, "hotkey": signer.address, "stake": stake},
             f"{signer.address} is UID {uid} on subnet {netuid}, stake {stake / TSR:,.4f} TSR")


@subnet.group()
def miner() -> None:
    """Subnet miner: serve an ONNX model and sign every answer."""


@miner.command("run")
@click.option("--netuid", type=int, required=True)
@click.option("--model", "model_path", type=click.Path(path_type=Path), required=True, help="ONNX model to serve.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8801, show_default=True)
@account_option
@password_file_option
@click.pass_context
@handle_errors
def miner_run(ctx: click.Context, netuid: int, model_path: Path, host: str, port: int, account: str | None,
              password_file: Path | None) -> None:
    """Register (if needed) and serve POST /predict until interrupted."""
    import uvicorn

    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        hotkey = _local_account(resolve_signer(settings, chain, account, password_file))
        uid = client.register(hotkey, netuid)
    app = create_miner_app(hotkey, onnx_predictor(model_path))
    click.echo(f"miner UID {uid} ({hotkey.address}) on subnet {netuid}, listening on {host}:{port}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@subnet.group()
def validator() -> None:
    """Subnet validator: score miners, commit/reveal, settle epochs, claim."""


def _validator_loop(settings: Settings, client: SubnetClient, hotkey: LocalAccount, netuid: int,
                    miners_path: Path, data_path: Path, signatures_dir: Path | None) -> ValidatorLoop:
    miners_raw = load_yaml_mapping(miners_path, "miners file (UID: base URL)")
    try:
        data = json.loads(data_path.read_text())
        dataset = Dataset(np.asarray(data["inputs"], dtype=np.float64), np.asarray(data["labels"], dtype=np.int64))
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"{data_path} must be JSON with \"inputs\" (rows) and \"labels\" (ints): {e}") from e
    miners: dict[int, tuple[str, httpx.AsyncClient]] = {}
    for uid_text, url in miners_raw.items():
        uid = int(uid_text)
        neuron = client.registry.call("neuron", netuid, uid)
        miners[uid] = (neuron[0], httpx.AsyncClient(base_url=str(url)))
    state_dir = settings.data_dir / "validator" / f"{netuid}-{hotkey.address.lower()}"
    state_dir.mkdir(parents=True, exist_ok=True)
    node = SubnetValidator(client, hotkey, netuid, ValidatorStore(state_dir / "state.sqlite"), dataset)
    return ValidatorLoop(node, miners, signatures_dir or settings.data_dir / "validator" / "signatures")


@validator.command("run")
@click.option("--netuid", type=int, required=True)
@click.option("--miners", "miners_path", type=click.Path(path_type=Path), required=True,
              help="YAML mapping miner UID -> base URL.")
@click.option("--data", "data_path", type=click.Path(path_type=Path), required=True,
              help="Held-out data JSON: {\"inputs\": [[...]], \"labels\": [...]}.")
@click.option("--signatures-dir", type=click.Path(path_type=Path), default=None,
              help="Directory the subnet's validators share to exchange epoch signatures.")
@click.option("--interval", type=float, default=2.0, show_default=True)
@click.option("--passes", type=int, default=0, help="Stop after this many passes (0: run until interrupted).")
@account_option
@password_file_option
@click.pass_context
@handle_errors
def validator_run(ctx: click.Context, netuid: int, miners_path: Path, data_path: Path,
                  signatures_dir: Path | None, interval: float, passes: int, account: str | None,
                  password_file: Path | None) -> None:
    """Run the validator loop; each pass prints what it did. State: <data dir>/validator/."""
    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        hotkey = _local_account(resolve_signer(settings, chain, account, password_file))
        loop = _validator_loop(settings, client, hotkey, netuid, miners_path, data_path, signatures_dir)

        async def main() -> None:
            done = 0
            while passes == 0 or done < passes:
                click.echo(await loop.step())
                done += 1
                await asyncio.sleep(interval)

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            pass


@validator.command("status")
@click.option("--netuid", type=int, required=True)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def validator_status(ctx: click.Context, netuid: int, account: str | None, password_file: Path | None,
                     as_json: bool) -> None:
    """What this validator has committed, revealed and carried (read from its SQLite state)."""
    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        hotkey = resolve_signer(settings, chain, account, password_file)
        path = settings.data_dir / "validator" / f"{netuid}-{hotkey.address.lower()}" / "state.sqlite"
        if not path.exists():
            raise ConfigError(f"no validator state at {path}: run `tessera subnet validator run` first")
        store = ValidatorStore(path)
        carry = store.carry(netuid)
        s = client.subnet(netuid)
        body = {"netuid": netuid, "hotkey": hotkey.address, "last_finalized_epoch": s["lastEpoch"],
                "next_epoch_block": client.next_epoch_block(netuid), "block": chain.block_number(),
                "committed_for": store.get(f"committed_for:{netuid}"),
                "pending_reveal": store.get(f"commit:{netuid}") is not None,
                "carried_bond_rows": len(carry.bonds), "permits": sum(carry.permits.values())}
        emit(as_json, body, "\n".join(f"{k}: {v}" for k, v in body.items()))
