"""`tessera subnet ...`: Yuma epochs and (with a deployed subnet) miner and validator nodes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import click
import httpx
import numpy as np
from eth_account.signers.local import LocalAccount

from ..chain.base import Chain
from ..config import Settings
from ..sqlite_store import bind_chain
from ..errors import ChainError, ConfigError, EpochInputError
from ..protocol.faucet import require_balance
from ..units import amount_json, units_text
from ..market.spec import load_yaml_mapping
from ..subnet.client import SubnetClient, SubnetHyper
from ..subnet.miner import create_miner_app, onnx_predictor
from ..subnet.validator import Dataset, SubnetValidator, ValidatorLoop, ValidatorStore
from ..subnet.yuma import run_epoch
from .options import (AMOUNT, ID, UINT64, account_option, base_units, deployed, handle_errors, hint, json_option,
                      password_file_option, resolve_signer, settings_from)
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
@click.option("--epoch", "epoch_index", type=click.IntRange(0, 10**9), default=None,
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
@click.option("--max-uids", type=click.IntRange(1, 4096), default=256, show_default=True,
              help="Neuron slots; when full, a registration replaces the lowest-ranked neuron out of immunity.")
@click.option("--max-validators", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Top-stake neurons with a validator permit (at most --max-uids).")
@click.option("--tempo", type=click.IntRange(2, 50400), default=360, show_default=True, help="Blocks between epochs.")
@click.option("--immunity", type=click.IntRange(0, 100 * 50400), default=None,
              help="Blocks a new neuron cannot be replaced [default: min(4096, 100 x tempo)].")
@click.option("--reveal-window", type=click.IntRange(2, 2 * 50400), default=None,
              help="Blocks a weight commit may be revealed in, between tempo and 2 x tempo [default: tempo].")
@click.option("--yuma", type=click.Choice(["yuma2", "yuma3", "yuma3_liquid"]), default="yuma3", show_default=True)
@click.option("--registration-cost", type=AMOUNT, default=Decimal(0), show_default=True,
              help="TSR per registration (recycled into emission).")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def create_cmd(ctx: click.Context, max_uids: int, max_validators: int, tempo: int, immunity: int | None,
               reveal_window: int | None, yuma: str, registration_cost: Decimal, account: str | None,
               password_file: Path | None, as_json: bool) -> None:
    """Create a subnet (costs 100 TSR per existing subnet, recycled into emission)."""
    immunity = min(4096, 100 * tempo) if immunity is None else immunity
    reveal_window = tempo if reveal_window is None else reveal_window
    if max_validators > max_uids:
        raise click.BadParameter(f"{max_validators} is more than --max-uids {max_uids}", param_hint="--max-validators")
    if not tempo <= reveal_window <= 2 * tempo:
        raise click.BadParameter(f"{reveal_window} must lie between the tempo ({tempo}) and twice it ({2 * tempo})",
                                 param_hint="--reveal-window")
    if immunity > 100 * tempo:
        raise click.BadParameter(f"{immunity} is more than 100 x tempo ({100 * tempo})", param_hint="--immunity")
    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        hyper = SubnetHyper(max_uids, max_validators, tempo, immunity, reveal_window, yuma_version=yuma)
        cost = int(client.registry.call("creationCost"))
        _require_tsr(chain, client, signer.address, cost, "creating a subnet")
        netuid = client.create_subnet(signer, hyper, base_units(registration_cost, 18, "--registration-cost"))
        emit(as_json, {"netuid": netuid, "owner": signer.address, "hyper": hyper.__dict__},
             f"created subnet {netuid} owned by {signer.address} (tempo {tempo} blocks, reveal window "
             f"{reveal_window}, immunity {immunity})\nnext: `{hint(ctx, f'subnet register {netuid} --stake 10')}`")


def _require_tsr(chain: Chain, client: SubnetClient, address: str, amount: int, what: str) -> None:
    require_balance(chain, client.d, address, amount, token="tsr", what=what)


@subnet.command("register")
@click.argument("netuid", type=click.IntRange(0, 2**16 - 1))
@click.option("--stake", "stake_tsr", type=AMOUNT, default=Decimal(0),
              help="Make sure at least this much TSR is staked on the hotkey (stakes only the difference).")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def register_cmd(ctx: click.Context, netuid: int, stake_tsr: Decimal, account: str | None,
                 password_file: Path | None, as_json: bool) -> None:
    """Register the account as a neuron of NETUID, and stake up to --stake on it. Idempotent: running it again
    registers and stakes nothing more."""
    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        want = base_units(stake_tsr, 18, "--stake")
        have = int(client.registry.call("stakeOf", netuid, signer.address))
        _require_tsr(chain, client, signer.address, max(want - have, 0), "the stake")
        uid = client.register(signer, netuid)
        if want > have:
            client.stake(signer, netuid, signer.address, want - have)
        stake = int(client.registry.call("stakeOf", netuid, signer.address))
        emit(as_json, {"netuid": netuid, "uid": uid, "hotkey": signer.address,
                       "stake": amount_json(stake, 18, "TSR"),
                       "staked_now": amount_json(max(want - have, 0), 18, "TSR")},
             f"{signer.address} is UID {uid} on subnet {netuid}, stake {units_text(stake, 18)} TSR")


@subnet.command("show")
@click.argument("netuid", type=click.IntRange(0, 2**16 - 1))
@json_option
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, netuid: int, as_json: bool) -> None:
    """A subnet's hyperparameters, epoch clock and neurons (UID, hotkey, stake)."""
    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        if netuid >= int(client.registry.call("subnetCount")):
            raise ConfigError(f"subnet {netuid} does not exist on chain {chain.chain_id}: "
                              f"create one with `{hint(ctx, 'subnet create')}`")
        s = client.subnet(netuid)
        neurons = []
        for uid in range(int(s["n"])):
            hotkey = client.registry.call("neuron", netuid, uid)[0]
            stake = int(client.registry.call("stakeOf", netuid, hotkey))
            neurons.append({"uid": uid, "hotkey": hotkey, "stake": amount_json(stake, 18, "TSR")})
        hyper: SubnetHyper = s["hyper"]
        body = {"netuid": netuid, "block": chain.block_number(), "next_epoch_block": client.next_epoch_block(netuid),
                "last_epoch": int(s["lastEpoch"]), "hyper": hyper.__dict__, "neurons": neurons}
    lines = [f"subnet {netuid}: {len(neurons)} neuron(s), tempo {hyper.tempo} blocks, {hyper.yuma_version}; "
             f"block {body['block']}, next epoch at block {body['next_epoch_block']}"]
    lines += [f"  UID {n['uid']:>4}  {n['hotkey']}  {n['stake']['decimal']:>14} TSR" for n in neurons]
    emit(as_json, body, "\n".join(lines))


@subnet.group()
def miner() -> None:
    """Subnet miner: serve an ONNX model and sign every answer."""


@miner.command("run")
@click.option("--netuid", type=click.IntRange(0, 2**16 - 1), required=True, help="The subnet's id.")
@click.option("--model", "model_path", type=click.Path(path_type=Path), required=True, help="ONNX model to serve.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8801, show_default=True)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def miner_run(ctx: click.Context, netuid: int, model_path: Path, host: str, port: int, account: str | None,
              password_file: Path | None, as_json: bool) -> None:
    """Register (if needed) and serve POST /predict until interrupted (--json: JSON log lines)."""
    import uvicorn

    from .nodelog import NodeLog

    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        hotkey = _local_account(resolve_signer(settings, chain, account, password_file))
        uid = client.register(hotkey, netuid)
    app = create_miner_app(hotkey, onnx_predictor(model_path))
    log = NodeLog(f"miner {hotkey.address[:10]}", as_json=as_json)
    log.event("start", f"UID {uid} on subnet {netuid}, serving {model_path.name} on {host}:{port}", uid=uid,
              netuid=netuid, host=host, port=port)
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
        if isinstance(uid_text, bool) or not str(uid_text).isdigit() or int(uid_text) >= 2**16:
            raise ConfigError(f"{miners_path}: key {uid_text!r} is not a miner UID: write `0: http://127.0.0.1:8801` "
                              "(UIDs from `tessera subnet show NETUID`)")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{miners_path}: UID {uid_text}: {url!r} is not a base URL: write http://HOST:PORT")
        uid = int(uid_text)
        neuron = client.registry.call("neuron", netuid, uid)
        if int(neuron[0], 16) == 0:
            raise ConfigError(f"{miners_path}: UID {uid} is not registered on subnet {netuid}: "
                              "`tessera subnet show NETUID` lists the UIDs")
        miners[uid] = (neuron[0], httpx.AsyncClient(base_url=str(url)))
    state_dir = settings.data_dir / "validator" / f"{netuid}-{hotkey.address.lower()}"
    state_dir.mkdir(parents=True, exist_ok=True)
    store = ValidatorStore(state_dir / "state.sqlite")
    chain = client.chain
    bind_chain(store.db, chain.chain_id, chain.get_block(0).hash, client.registry.address, state_dir / "state.sqlite")
    node = SubnetValidator(client, hotkey, netuid, store, dataset)
    return ValidatorLoop(node, miners, signatures_dir or settings.data_dir / "validator" / "signatures")


@validator.command("run")
@click.option("--netuid", type=click.IntRange(0, 2**16 - 1), required=True, help="The subnet's id.")
@click.option("--miners", "miners_path", type=click.Path(path_type=Path), required=True,
              help="YAML mapping miner UID -> base URL.")
@click.option("--data", "data_path", type=click.Path(path_type=Path), required=True,
              help="Held-out data JSON: {\"inputs\": [[...]], \"labels\": [...]}.")
@click.option("--signatures-dir", type=click.Path(path_type=Path), default=None,
              help="Directory the subnet's validators share to exchange epoch signatures.")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=2.0, show_default=True,
              help="Seconds between passes.")
@click.option("--passes", type=click.IntRange(0, 10**9), default=0,
              help="Stop after this many passes (0: run until interrupted).")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def validator_run(ctx: click.Context, netuid: int, miners_path: Path, data_path: Path,
                  signatures_dir: Path | None, interval: float, passes: int, account: str | None,
                  password_file: Path | None, as_json: bool) -> None:
    """Run the validator loop; each pass logs what it did (--json: JSON lines). State: <data dir>/validator/."""
    from .nodelog import NodeLog

    settings = settings_from(ctx)
    with subnet_client(settings) as (chain, client):
        hotkey = _local_account(resolve_signer(settings, chain, account, password_file))
        loop = _validator_loop(settings, client, hotkey, netuid, miners_path, data_path, signatures_dir)
        log = NodeLog(f"validator {hotkey.address[:10]}", as_json=as_json)

        async def main() -> None:
            done = 0
            while passes == 0 or done < passes:
                try:
                    log.event("pass", await loop.step(), netuid=netuid, block=chain.block_number())
                except ChainError as e:  # the chain may come back: say so and keep going
                    log.error("error", f"chain: {e}", message=str(e))
                done += 1
                await asyncio.sleep(interval)

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            pass


@validator.command("status")
@click.option("--netuid", type=click.IntRange(0, 2**16 - 1), required=True, help="The subnet's id.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def validator_status(ctx: click.Context, netuid: int, account: str | None, password_file: Path | None,
                     as_json: bool) -> None:
    """What this validator has committed, revealed and carried: its last finalized epoch, the next epoch block,
    a pending reveal, carried bond rows and permits (read from its SQLite state and the chain)."""
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
