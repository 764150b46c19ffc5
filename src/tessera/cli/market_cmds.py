"""`tessera market ...` (tenant) and `tessera provider ...` (provider node)."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import click

from ..chain.base import Chain
from ..config import Settings
from ..errors import ConfigError
from ..market import CloseReason, LeaseState, MarketClient, Manifest, OrderState, load_spec
from ..market.explain import explain_no_bids, money
from ..market.tenant import ProviderHttpError, TenantSession
from ..protocol.faucet import require_balance
from ..units import amount_json, units_text
from .options import (AMOUNT, ID, account_option, base_units, deployed, fmt_time, handle_errors, hint, json_option,
                      password_file_option, resolve_signer, settings_from)
from .output import emit


@contextmanager
def market_client(settings: Settings) -> Iterator[tuple[Chain, MarketClient]]:
    with deployed(settings) as (chain, deployment):
        yield chain, MarketClient(chain, deployment)


def _orders_dir(settings: Settings, chain: Chain) -> Path:
    """Saved manifests, per chain id and genesis: a restarted devnet (same id, new chain) has none."""
    return settings.data_dir / "orders" / f"{chain.chain_id}-{chain.get_block(0).hash.hex()[:12]}"


def _saved_manifest(settings: Settings, chain: Chain, order_id: int) -> Manifest:
    path = _orders_dir(settings, chain) / f"{order_id}.manifest.json"
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
        require_funds(chain, client, signer.address, order_spec.deposit, "the order's deposit")
        order_id, receipt = client.create_order(signer, order_spec)
        order = client.order(order_id)
        d = _orders_dir(settings, chain)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{order_id}.manifest.json").write_bytes(spec.manifest.canonical)
        dec, unit = client.decimals, _unit(client)
    payload = {"order_id": order_id, "closes_at": order.closes_at, "closes_at_utc": fmt_time(order.closes_at),
               "manifest_hash": spec.manifest.hash, "deposit": amount_json(order_spec.deposit, dec, unit),
               "max_price_per_hour": amount_json(order_spec.max_price_per_hour, dec, unit),
               "gas_used": receipt.gas_used}
    emit(as_json, payload, f"order {order_id} open for bids until {fmt_time(order.closes_at)}; deposit "
         f"{money(order_spec.deposit, dec)} {unit} escrowed, max {money(order_spec.max_price_per_hour, dec)} {unit}/h"
         f"\nnext: `{hint(ctx, f'market status {order_id}')}`, then `{hint(ctx, f'market accept --order {order_id}')}`")


def _unit(client: MarketClient) -> str:
    return str(client.stablecoin.call("symbol"))


def require_funds(chain: Chain, client: MarketClient, address: str, amount: int, what: str) -> None:
    require_balance(chain, client.deployment, address, amount, token="stable", what=what)


@market.command("bids")
@click.argument("order_id", type=ID)
@json_option
@click.pass_context
@handle_errors
def bids_cmd(ctx: click.Context, order_id: int, as_json: bool) -> None:
    """List the bids on an order, best first."""
    with market_client(settings_from(ctx)) as (_chain, client):
        bids = sorted(client.bids_for(order_id), key=lambda b: (b.price_per_hour, b.bid_id))
        dec, unit = client.decimals, _unit(client)
    rows = [{**asdict(b), "price_per_hour": amount_json(b.price_per_hour, dec, unit),
             "deposit": amount_json(b.deposit, dec, unit)} for b in bids]
    emit(as_json, {"order_id": order_id, "bids": rows},
         lambda: "\n".join([f"bid {b.bid_id}: {b.provider} {money(b.price_per_hour, dec)} {unit}/h" for b in bids])
         or f"no bids on order {order_id} yet: `tessera market status {order_id}` explains why")


def _send_manifest(settings: Settings, client: MarketClient, signer: Any, lease_id: int) -> dict[str, Any]:
    lease = client.lease(lease_id)
    manifest = _saved_manifest(settings, client.chain, lease.order_id)
    try:
        return asyncio.run(TenantSession(client, signer).send_manifest(lease_id, manifest))
    except ProviderHttpError as e:
        raise ProviderHttpError(
            f"lease {lease_id} exists but its provider did not take the manifest ({e}); nothing bills until the "
            f"provider acknowledges: retry with `tessera market accept --order {lease.order_id}` (it resends), "
            f"or `tessera market close {lease_id}` for a full refund") from e


@market.command("accept")
@click.argument("bid_id", type=ID, required=False)
@click.option("--order", "order_id", type=ID, default=None,
              help="Close ORDER's auction (the lowest bid wins), or resend the manifest if it is leased already.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def accept_cmd(ctx: click.Context, bid_id: int | None, order_id: int | None, account: str | None,
               password_file: Path | None, as_json: bool) -> None:
    """Accept BID_ID now, or (--order) close the auction, then send the signed manifest to the provider.

    Idempotent: on an order that already has a lease (the provider closed the auction, or an earlier accept
    could not reach the provider) it sends the manifest to that lease."""
    if (bid_id is None) == (order_id is None):
        raise click.UsageError("give a BID_ID, or --order ORDER_ID to take the lowest bid after the window")
    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        if bid_id is not None:
            bid = client.bid(bid_id)
            if bid.order_id == 0:
                raise ConfigError(f"bid {bid_id} does not exist on chain {chain.chain_id}: "
                                  "`tessera market bids ORDER` lists the bids")
            order_id = bid.order_id
        assert order_id is not None
        order = client.order(order_id)
        if order.state == OrderState.NONE:
            raise ConfigError(f"order {order_id} does not exist on chain {chain.chain_id}")
        if order.tenant != signer.address:
            raise ConfigError(f"order {order_id} belongs to {order.tenant}, not {signer.address}: pass --account")
        if order.state == OrderState.CANCELLED:
            raise ConfigError(f"order {order_id} was cancelled: open a new one with `tessera market deploy SPEC`")
        already = order.state == OrderState.LEASED
        if already:
            lease_id = order.lease_id
            if bid_id is not None and client.lease(lease_id).bid_id != bid_id:
                raise ConfigError(f"order {order_id} is leased already, to bid {client.lease(lease_id).bid_id}: "
                                  f"`tessera market accept --order {order_id}` resends its manifest")
        elif bid_id is not None:
            lease_id, _ = client.accept_bid(signer, bid_id)
        else:
            if order.best_bid == 0:
                raise ConfigError(f"order {order_id} has no bids yet: `tessera market status {order_id}` says why")
            now = chain.get_block().timestamp
            if now < order.closes_at:
                raise ConfigError(f"order {order_id}'s bid window is open until {fmt_time(order.closes_at)}: "
                                  f"wait, or take a bid now with `tessera market accept BID_ID`")
            lease_id, _ = client.close_auction(signer, order_id)
        lease = client.lease(lease_id)
        ack = _send_manifest(settings, client, signer, lease_id)
        endpoint = client.provider(lease.provider).endpoint
        dec, unit = client.decimals, _unit(client)
    emit(as_json, {"lease_id": lease_id, "order_id": order_id, "provider": lease.provider,
                   "price_per_hour": amount_json(lease.price_per_hour, dec, unit), "endpoint": endpoint,
                   "start_by": lease.start_by, "already_leased": already, "manifest": ack},
         f"lease {lease_id} with {lease.provider} at {endpoint}, {money(lease.price_per_hour, dec)} {unit}/h; "
         f"workload {ack.get('status')}; billing starts when the provider acknowledges it "
         f"(by {fmt_time(lease.start_by)}, or the deposit comes back in full)\n"
         f"next: `{hint(ctx, f'market status {order_id}')}`")


@market.command("cancel")
@click.argument("order_id", type=ID)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def cancel_cmd(ctx: click.Context, order_id: int, account: str | None, password_file: Path | None,
               as_json: bool) -> None:
    """Cancel an open order (no lease yet): its deposit comes back; bidders reclaim their bid deposits."""
    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        order = client.order(order_id)
        if order.state == OrderState.NONE:
            raise ConfigError(f"order {order_id} does not exist on chain {chain.chain_id}")
        if order.state == OrderState.LEASED:
            raise ConfigError(f"order {order_id} has lease {order.lease_id}: close that instead with "
                              f"`tessera market close {order.lease_id}`")
        if order.state == OrderState.CANCELLED:
            raise ConfigError(f"order {order_id} is cancelled already")
        if order.tenant != signer.address:
            raise ConfigError(f"order {order_id} belongs to {order.tenant}, not {signer.address}: pass --account")
        receipt = client.cancel_order(signer, order_id)
        refund = int(client.market.events(receipt, "OrderCancelled")[0].args["refund"])
        dec, unit = client.decimals, _unit(client)
    emit(as_json, {"order_id": order_id, "refund": amount_json(refund, dec, unit)},
         f"order {order_id} cancelled; {money(refund, dec)} {unit} refunded to {signer.address}")


@market.command("status")
@click.argument("order_id", type=ID)
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
        unit = _unit(client)
        now = chain.get_block().timestamp
        payload: dict[str, Any] = {"order_id": order_id, "state": order.state.name.lower(),
                                   "closes_at": order.closes_at, "now": now, "bids": len(bids), "lease": None}
        window = "open until" if now < order.closes_at else "closed at"
        lines = [f"order {order_id}: {order.state.name.lower()}, {len(bids)} bid(s); bid window {window} "
                 f"{fmt_time(order.closes_at)}"]
        if order.lease_id:
            status = client.lease_status(order.lease_id)
            lease = client.lease(order.lease_id)
            payload["lease"] = {"lease_id": order.lease_id, "state": status.state.name.lower(),
                                "funded_until": status.funded_until, "grace_ends_at": status.grace_ends_at,
                                "breached": status.breached, "start_by": lease.start_by,
                                "escrow": amount_json(status.escrow, dec, unit),
                                "owed_to_provider": amount_json(status.owed_to_provider, dec, unit)}
            if status.state == LeaseState.STARTING:
                lines.append(f"lease {order.lease_id}: starting, nothing billed; the provider must acknowledge "
                             f"by {fmt_time(lease.start_by)}, else `tessera market close {order.lease_id}` "
                             f"refunds all {money(status.escrow, dec)} {unit}")
            else:
                lines.append(f"lease {order.lease_id}: {status.state.name.lower()}, escrow "
                             f"{money(status.escrow, dec)} {unit}"
                             + (f", funded until {fmt_time(status.funded_until)}" if status.funded_until else "")
                             + (" - provider MISSED HEARTBEATS: close it for a refund" if status.breached else ""))
        elif not bids:
            auditor = order.spec.requirements.auditor
            providers = [client.certified_by(p, [auditor]) if auditor else p for p in client.all_providers()]
            why = explain_no_bids(order, providers, dec, client.params().min_bond)
            payload["explanation"] = why.lines
            lines += [f"why: {line}" for line in why.lines]
    emit(as_json, payload, "\n".join(lines))


@market.command("logs")
@click.argument("lease_id", type=ID)
@click.option("--tail", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Lines from the end of the log.")
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
@click.argument("lease_id", type=ID)
@click.argument("amount", type=AMOUNT)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def topup_cmd(ctx: click.Context, lease_id: int, amount: Decimal, account: str | None, password_file: Path | None,
              as_json: bool) -> None:
    """Add AMOUNT (stablecoin units, e.g. 5.00) to a lease's escrow; resumes a paused lease."""
    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        base = base_units(amount, client.decimals, "amount")
        if base == 0:
            raise ConfigError("amount: top up more than 0")
        require_funds(chain, client, signer.address, base, "the top-up")
        client.top_up(signer, lease_id, base)
        status = client.lease_status(lease_id)
        dec, unit = client.decimals, _unit(client)
    emit(as_json, {"lease_id": lease_id, "state": status.state.name.lower(), "funded_until": status.funded_until,
                   "escrow": amount_json(status.escrow, dec, unit)},
         f"lease {lease_id}: {status.state.name.lower()}, escrow {money(status.escrow, dec)} {unit}"
         + (f", funded until {fmt_time(status.funded_until)}" if status.funded_until else ""))


@market.command("close")
@click.argument("lease_id", type=ID)
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
        dec, unit = client.decimals, _unit(client)
    reason = CloseReason(args["reason"]).name.lower()
    emit(as_json, {"lease_id": lease_id, "reason": reason, "refund": amount_json(args["refund"], dec, unit),
                   "slashed": amount_json(args["slashed"], 18, "TSR")},
         f"lease {lease_id} closed ({reason.replace('_', ' ')}); refunded {money(args['refund'], dec)} {unit}"
         + (f"; provider slashed {units_text(args['slashed'], 18)} TSR" if args["slashed"] else ""))

