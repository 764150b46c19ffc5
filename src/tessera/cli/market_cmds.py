"""`tessera market ...` (tenant) and `tessera provider ...` (provider node)."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import click

from ..chain.base import Chain
from ..config import Settings
from ..errors import ConfigError
from ..market import MarketClient, Manifest, OrderState, load_spec
from ..market.explain import explain_no_bids, money
from ..market.spec import to_base_units
from ..market.tenant import TenantSession
from .main import (account_option, deployed, handle_errors, json_option, password_file_option, resolve_signer,
                   settings_from)
from .output import emit


@contextmanager
def market_client(settings: Settings) -> Iterator[tuple[Chain, MarketClient]]:
    with deployed(settings) as (chain, deployment):
        yield chain, MarketClient(chain, deployment)


def _orders_dir(settings: Settings, chain_id: int) -> Path:
    return settings.data_dir / "orders" / str(chain_id)


def _saved_manifest(settings: Settings, chain_id: int, order_id: int) -> Manifest:
    path = _orders_dir(settings, chain_id) / f"{order_id}.manifest.json"
    if not path.exists():
        raise ConfigError(f"no saved manifest for order {order_id} at {path}: it was created elsewhere; "
                          "copy the manifest there")
    return Manifest.from_bytes(path.read_bytes())


@click.group()
def market() -> None:
    """Tenant commands: order compute, watch bids, accept, top up, close."""


@market.command("deploy")
@click.argument("spec_path", type=click.Path(path_type=Path))
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def deploy_cmd(ctx: click.Context, spec_path: Path, account: str | None, password_file: Path | None,
               as_json: bool) -> None:
    """Open an order from a YAML spec (docs/market.md); its deposit is escrowed."""
    settings = settings_from(ctx)
    spec = load_spec(spec_path)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        order_spec = spec.order_spec(client.decimals)
        order_id, receipt = client.create_order(signer, order_spec)
        order = client.order(order_id)
        d = _orders_dir(settings, chain.chain_id)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{order_id}.manifest.json").write_bytes(spec.manifest.canonical)
    payload = {"order_id": order_id, "closes_at": order.closes_at, "manifest_hash": spec.manifest.hash,
               "deposit": order_spec.deposit, "max_price_per_hour": order_spec.max_price_per_hour,
               "gas_used": receipt.gas_used}
    emit(as_json, payload, f"order {order_id} open until {order.closes_at} (unix); deposit "
         f"{spec.deposit}, max {spec.max_price_per_hour}/h\nnext: `tessera market status {order_id}`")


@market.command("bids")
@click.argument("order_id", type=int)
@json_option
@click.pass_context
@handle_errors
def bids_cmd(ctx: click.Context, order_id: int, as_json: bool) -> None:
    """List the bids on an order, best first."""
    with market_client(settings_from(ctx)) as (_chain, client):
        bids = sorted(client.bids_for(order_id), key=lambda b: (b.price_per_hour, b.bid_id))
        dec = client.decimals
    emit(as_json, {"order_id": order_id, "bids": [asdict(b) for b in bids]},
         lambda: "\n".join([f"bid {b.bid_id}: {b.provider} {money(b.price_per_hour, dec)}/h" for b in bids])
         or f"no bids on order {order_id} yet: `tessera market status {order_id}` explains why")


def _send_manifest(settings: Settings, client: MarketClient, signer: Any, lease_id: int) -> dict[str, Any]:
    lease = client.lease(lease_id)
    manifest = _saved_manifest(settings, client.chain.chain_id, lease.order_id)
    return asyncio.run(TenantSession(client, signer).send_manifest(lease_id, manifest))


@market.command("accept")
@click.argument("bid_id", type=int, required=False)
@click.option("--order", "order_id", type=int, default=None, help="Close ORDER's auction: the lowest bid wins.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def accept_cmd(ctx: click.Context, bid_id: int | None, order_id: int | None, account: str | None,
               password_file: Path | None, as_json: bool) -> None:
    """Accept BID_ID now, or (--order) close the auction, then send the signed manifest to the provider."""
    if (bid_id is None) == (order_id is None):
        raise click.UsageError("give a BID_ID, or --order ORDER_ID to take the lowest bid after the window")
    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        if bid_id is not None:
            lease_id, _ = client.accept_bid(signer, bid_id)
        else:
            assert order_id is not None
            lease_id, _ = client.close_auction(signer, order_id)
        lease = client.lease(lease_id)
        ack = _send_manifest(settings, client, signer, lease_id)
        endpoint = client.provider(lease.provider).endpoint
    emit(as_json, {"lease_id": lease_id, "provider": lease.provider, "price_per_hour": lease.price_per_hour,
                   "endpoint": endpoint, "manifest": ack},
         f"lease {lease_id} with {lease.provider} at {endpoint}; workload {ack.get('status')}")


@market.command("status")
@click.argument("order_id", type=int)
@json_option
@click.pass_context
@handle_errors
def status_cmd(ctx: click.Context, order_id: int, as_json: bool) -> None:
    """An order's state, its bids and lease, and, when nobody bid, why."""
    with market_client(settings_from(ctx)) as (chain, client):
        order = client.order(order_id)
        if order.state == OrderState.NONE:
            raise ConfigError(f"order {order_id} does not exist on chain {chain.chain_id}")
        bids = client.bids_for(order_id)
        dec = client.decimals
        payload: dict[str, Any] = {"order_id": order_id, "state": order.state.name, "closes_at": order.closes_at,
                                   "now": chain.get_block().timestamp, "bids": len(bids), "lease": None}
        lines = [f"order {order_id}: {order.state.name.lower()}, {len(bids)} bid(s)"]
        if order.lease_id:
            status = client.lease_status(order.lease_id)
            payload["lease"] = {"lease_id": order.lease_id, **asdict(status), "state": status.state.name}
            lines.append(f"lease {order.lease_id}: {status.state.name.lower()}, escrow "
                         f"{money(status.escrow, dec)}, funded until {status.funded_until}"
                         + (" - provider MISSED HEARTBEATS: close it for a refund" if status.breached else ""))
        elif not bids:
            auditor = order.spec.requirements.auditor
            providers = [client.certified_by(p, [auditor]) if auditor else p for p in client.all_providers()]
            why = explain_no_bids(order, providers, dec, client.params().min_bond)
            payload["explanation"] = why.lines
            lines += [f"why: {line}" for line in why.lines]
    emit(as_json, payload, "\n".join(lines))


@market.command("logs")
@click.argument("lease_id", type=int)
@click.option("--tail", type=int, default=200, show_default=True)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def logs_cmd(ctx: click.Context, lease_id: int, tail: int, account: str | None, password_file: Path | None,
             as_json: bool) -> None:
    """The workload's log, fetched from the provider with a signed request."""
    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        log = asyncio.run(TenantSession(client, signer).logs(lease_id, tail))
    emit(as_json, {"lease_id": lease_id, "log": log}, log)


@market.command("topup")
@click.argument("lease_id", type=int)
@click.argument("amount")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def topup_cmd(ctx: click.Context, lease_id: int, amount: str, account: str | None, password_file: Path | None,
              as_json: bool) -> None:
    """Add AMOUNT (stablecoin units, e.g. 5.00) to a lease's escrow; resumes a paused lease."""
    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        client.top_up(signer, lease_id, to_base_units(amount, client.decimals, "amount"))
        status = client.lease_status(lease_id)
    emit(as_json, {"lease_id": lease_id, **asdict(status), "state": status.state.name},
         f"lease {lease_id}: {status.state.name.lower()}, funded until {status.funded_until}")


@market.command("close")
@click.argument("lease_id", type=int)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def close_cmd(ctx: click.Context, lease_id: int, account: str | None, password_file: Path | None,
              as_json: bool) -> None:
    """Close a lease: settle, refund the rest of the escrow (and slash a provider that went silent)."""
    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        receipt = client.close_lease(signer, lease_id)
        args = client.market.events(receipt, "LeaseClosed")[0].args
        dec = client.decimals
    emit(as_json, {"lease_id": lease_id, **args}, f"lease {lease_id} closed; refunded {money(args['refund'], dec)}"
         + (f"; provider slashed {args['slashed'] / 1e18:g} TSR" if args["slashed"] else ""))

