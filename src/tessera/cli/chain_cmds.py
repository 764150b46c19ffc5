"""`tessera deploy`, `tessera devnet ...`, `tessera chain info`, `tessera contracts ...`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import click

from ..chain.artifacts import artifact_names, check_fresh, load_artifact
from ..chain.connect import connect
from ..chain.devnet import devnet_down, devnet_status, devnet_up
from ..protocol.deploy import DEFAULT_BASE_EMISSION, DEFAULT_BLOCK_INTERVAL, deploy_protocol, manifest_path
from .options import (AMOUNT, account_option, base_units, deployed, fmt_time, handle_errors, json_option,
                      password_file_option, resolve_address, resolve_signer, settings_from)
from .output import emit


@click.command()
@click.option("--fresh", is_flag=True, help="Deploy a new set of contracts even if a matching deployment exists.")
@click.option("--base-emission", type=click.IntRange(1, 21 * 10**24), default=DEFAULT_BASE_EMISSION, show_default=True,
              help="TSR (in wei) emitted per period before any halving.")
@click.option("--block-interval", type=click.IntRange(1, 10**6), default=DEFAULT_BLOCK_INTERVAL, show_default=True,
              help="Blocks per emission period.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def deploy(ctx: click.Context, fresh: bool, base_emission: int, block_interval: int, account: str | None,
           password_file: Path | None, as_json: bool) -> None:
    """Deploy the protocol (idempotent) and write the deployment manifest."""
    settings = settings_from(ctx)
    with connect(settings) as chain:
        signer = resolve_signer(settings, chain, account, password_file)
        path = None if settings.ephemeral else manifest_path(settings.deployments_dir, chain.chain_id)
        manifest, changed = deploy_protocol(chain, signer, path=path, base_emission=base_emission,
                                            block_interval=block_interval, stablecoin=settings.stablecoin,
                                            fresh=fresh)
    payload = {**manifest.to_dict(), "changed": changed, "manifest_path": str(path) if path else None}

    def text() -> str:
        head = "deployed" if changed else "already deployed, nothing changed"
        lines = [f"{head} on chain {manifest.chain_id} ({manifest.backend}) at block {manifest.block}"]
        lines += [f"  {name:<17} {rec.address}" for name, rec in manifest.contracts.items()]
        if path:
            lines.append(f"manifest: {path}")
        return "\n".join(lines)

    emit(as_json, payload, text)


@click.group()
def devnet() -> None:
    """Start and stop a local anvil devnet (for several processes sharing one chain)."""


@devnet.command("up")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port on 127.0.0.1 (default: a free one).")
@click.option("--block-time", type=click.FloatRange(0.1, 3600), default=None,
              help="Mine a block every S seconds (default: only on transactions; validators need blocks to come).")
@json_option
@click.pass_context
@handle_errors
def devnet_up_cmd(ctx: click.Context, port: int | None, block_time: float | None, as_json: bool) -> None:
    """Start anvil in the background (or show the running one)."""
    settings = settings_from(ctx)
    net, started = devnet_up(settings.devnet_dir, port, block_time)
    emit(as_json, {"url": net.url, "pid": net.pid, "started": started, "block_time": block_time},
         f"{'started' if started else 'already running'}: anvil at {net.url} (pid {net.pid})"
         + (f", a block every {block_time:g} s" if block_time and started else "")
         + f"\nuse it with: tessera --rpc-url {net.url} ...\nnext: `tessera --rpc-url {net.url} deploy`")


@devnet.command("fund")
@click.argument("address")
@click.option("--eth", type=AMOUNT, default=Decimal(0), help="ETH for gas (units, e.g. 1.5).")
@click.option("--stable", type=AMOUNT, default=Decimal(0), help="Devnet stablecoin (units, e.g. 100).")
@click.option("--tsr", type=AMOUNT, default=Decimal(0), help="TSR, earned through emission (units).")
@json_option
@click.pass_context
@handle_errors
def devnet_fund_cmd(ctx: click.Context, address: str, eth: Decimal, stable: Decimal, tsr: Decimal,
                    as_json: bool) -> None:
    """Fund ADDRESS (or a keystore account name) on a devnet: ETH, stablecoin and TSR. Without amounts:
    1 ETH, 1,000 stablecoin and 100 TSR."""
    from ..accounts.dev import dev_account
    from ..protocol.faucet import balances, fund

    if not (eth or stable or tsr):
        eth, stable, tsr = Decimal(1), Decimal(1000), Decimal(100)
    settings = settings_from(ctx)
    with deployed(settings) as (chain, deployment):
        to = resolve_address(settings, chain, address)
        decimals = int(deployment.stablecoin.call("decimals"))
        fund(chain, deployment, dev_account(0), to, eth=base_units(eth, 18, "--eth"),
             stable=base_units(stable, decimals, "--stable"), tsr=base_units(tsr, 18, "--tsr"))
        now = balances(chain, deployment, to)
    emit(as_json, now.as_json(), lambda: "funded " + "\n".join(now.lines()))


@devnet.command("mine")
@click.argument("blocks", type=click.IntRange(1, 1_000_000), default=1)
@click.option("--seconds", type=click.IntRange(0, 10 * 365 * 86400), default=0,
              help="Move the clock forward this many seconds first.")
@json_option
@click.pass_context
@handle_errors
def devnet_mine_cmd(ctx: click.Context, blocks: int, seconds: int, as_json: bool) -> None:
    """Mine BLOCKS blocks (default 1) on a devnet, optionally moving time forward first."""
    from ..errors import ChainError

    settings = settings_from(ctx)
    with connect(settings) as chain:
        if not chain.is_devnet:
            raise ChainError(f"chain {chain.chain_id} is not a devnet: blocks come from its validators")
        if seconds:
            chain.increase_time(seconds)
        chain.mine(blocks)
        head = chain.get_block()
    emit(as_json, {"head": head.number, "timestamp": head.timestamp},
         f"head block {head.number} at {fmt_time(head.timestamp)}")


@devnet.command("down")
@json_option
@click.pass_context
@handle_errors
def devnet_down_cmd(ctx: click.Context, as_json: bool) -> None:
    """Stop the background anvil."""
    settings = settings_from(ctx)
    net = devnet_down(settings.devnet_dir)
    emit(as_json, {"stopped": net is not None, "url": net.url if net else None},
         f"stopped anvil at {net.url}" if net else "no devnet is running")


@devnet.command("status")
@json_option
@click.pass_context
@handle_errors
def devnet_status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show whether a background anvil is running."""
    net = devnet_status(settings_from(ctx).devnet_dir)
    emit(as_json, {"running": net is not None, "url": net.url if net else None, "pid": net.pid if net else None},
         f"anvil running at {net.url} (pid {net.pid})" if net else "no devnet is running")


@click.group("chain")
def chain_group() -> None:
    """Inspect the chain Tessera is connected to."""


@chain_group.command("info")
@json_option
@click.pass_context
@handle_errors
def chain_info(ctx: click.Context, as_json: bool) -> None:
    """Backend, chain id and head block."""
    settings = settings_from(ctx)
    with connect(settings) as chain:
        head = chain.get_block()
        payload = {"backend": chain.backend, "chain_id": chain.chain_id, "devnet": chain.is_devnet,
                   "head": head.number, "head_hash": head.hash, "timestamp": head.timestamp,
                   "where": chain.describe()}
    emit(as_json, payload, f"{payload['where']}\nchain id {payload['chain_id']}, head block {head.number}")


@click.group()
def contracts() -> None:
    """Compiled contract artifacts."""


@contracts.command("check")
@json_option
@handle_errors
def contracts_check(as_json: bool) -> None:
    """Fail if any committed artifact is stale against contracts/."""
    names = artifact_names()
    for name in names:
        check_fresh(load_artifact(name, check=False))
    emit(as_json, {"ok": True, "artifacts": names}, f"{len(names)} artifacts are up to date")


@contracts.command("build")
@json_option
@handle_errors
def contracts_build(as_json: bool) -> None:
    """Recompile contracts/ with the pinned solc and rewrite the artifacts."""
    from ..chain.compiler import compile_contracts, write_artifacts

    version, artifacts = compile_contracts()
    written = write_artifacts(artifacts)
    emit(as_json, {"compiler": version, "artifacts": [str(p) for p in written]},
         f"compiled {len(written)} contracts with solc {version}")
