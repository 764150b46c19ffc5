"""`tessera facilitator`, `tessera pay`, `tessera channel`: the x402 payment rail from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import click

from ..errors import PaymentError
from .options import (AMOUNT, account_option, deployed, fmt_time, handle_errors, json_option, password_file_option,
                      resolve_address, resolve_signer, settings_from)
from .output import emit

DEFAULT_MAX = Decimal("1")  # stablecoin units a `pay get` may spend on one call unless told otherwise


@click.group()
def facilitator() -> None:
    """An x402 facilitator (verify/settle) over the configured chain, the embedded one included."""


@facilitator.command("run")
@click.option("--port", type=click.IntRange(1, 65535), default=8402, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@account_option
@password_file_option
@click.pass_context
@handle_errors
def facilitator_run(ctx: click.Context, port: int, host: str, account: str | None, password_file: Path | None) -> None:
    """Serve GET /supported, POST /verify, POST /settle until interrupted (Ctrl-C)."""
    import uvicorn

    from ..payments import build_facilitator, caip2, facilitator_app

    settings = settings_from(ctx)
    with deployed(settings) as (chain, _):
        signer = resolve_signer(settings, chain, account, password_file)
        app = facilitator_app(build_facilitator(chain, signer, state=settings.data_dir / "payments" / "facilitator.db"))  # type: ignore[arg-type]
        click.echo(f"facilitator for {caip2(chain)} on http://{host}:{port} (settles from {signer.address})", err=True)
        _log_sdk_to_stderr()
        uvicorn.run(app, host=host, port=port, log_level="warning")


def _log_sdk_to_stderr() -> None:
    """One line per refusal or settlement the SDK reports (the library itself stays quiet)."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    sdk = logging.getLogger("x402")
    sdk.addHandler(handler)
    sdk.setLevel(logging.INFO)


@click.group()
def pay() -> None:
    """Pay for HTTP calls that answer 402 (x402: exact or a channel), within a cap."""


@pay.command("get")
@click.argument("url")
@click.option("--max", "max_amount", type=AMOUNT, default=str(DEFAULT_MAX), show_default=True,
              help="Most to pay for this call, in stablecoin units (e.g. 0.05).")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def pay_get(ctx: click.Context, url: str, max_amount: Decimal, account: str | None, password_file: Path | None,
            as_json: bool) -> None:
    """GET URL, paying what its 402 asks if it is within --max; prints the response body."""
    from ..payments import PaymentAsset, Payer

    settings = settings_from(ctx)
    with deployed(settings) as (chain, d):
        signer = resolve_signer(settings, chain, account, password_file)
        asset = PaymentAsset.read(chain, d.stablecoin.address)
        payer = Payer(signer, asset, max_per_payment=asset.base(max_amount),  # type: ignore[arg-type]
                      channel_state=settings.data_dir / "payments" / "client-channels")
        result = asyncio.run(payer.get(url))
    out = result.json()
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
        return
    paid = (f"paid {asset.text(result.amount)} ({result.scheme}"
            + (f", tx {result.transaction[:12]}…" if result.transaction else ", voucher") + ")") if result.paid \
        else "nothing paid"
    click.echo(f"HTTP {result.status} · {paid}" + (" · answered from the server's record" if result.replayed else ""),
               err=True)
    click.echo(result.body.decode(errors="replace"))


@click.group()
def channel() -> None:
    """Payment channels: one deposit, many sub-cent calls, one settlement."""


@contextlib.contextmanager
def _channels(ctx: click.Context, account: str | None, password_file: Path | None) -> Iterator[Any]:
    """The signer's ChannelClient on the configured chain (its asset is `.asset`, its chain `.chain`)."""
    from ..payments import ChannelClient, PaymentAsset

    settings = settings_from(ctx)
    with deployed(settings) as (chain, d):
        signer = resolve_signer(settings, chain, account, password_file)
        asset = PaymentAsset.read(chain, d.stablecoin.address)
        yield ChannelClient(chain, asset, signer, settings.data_dir / "payments" / "channels.json")  # type: ignore[arg-type]


def _text(view, asset) -> str:  # type: ignore[no-untyped-def]
    state = f"closing, payee may claim until {fmt_time(view.finalize_after)}" if view.withdraw_started else "open"
    return (f"channel {view.id}\n  payee {view.payee}\n  balance {asset.text(view.balance)} · claimed "
            f"{asset.text(view.claimed)} · unclaimed {asset.text(view.unclaimed)} · {state}")


@channel.command("open")
@click.argument("payee")
@click.option("--deposit", type=AMOUNT, required=True, help="Stablecoin units to lock in the channel.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def channel_open(ctx: click.Context, payee: str, deposit: Decimal, account: str | None, password_file: Path | None,
                 as_json: bool) -> None:
    """Open (or add to) the channel to PAYEE (address or account name); one transaction."""
    with _channels(ctx, account, password_file) as cc:
        asset = cc.asset
        cid, receipt = cc.deposit(cc.config(resolve_address(settings_from(ctx), cc.chain, payee)), asset.base(deposit))
        view = cc.view(cid)
    emit(as_json, {**view.to_json(asset), "transaction": "0x" + receipt.transaction_hash.hex(),
                   "gas_used": receipt.gas_used}, lambda: _text(view, asset))


@channel.command("topup")
@click.argument("channel_id")
@click.argument("amount", type=AMOUNT)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def channel_topup(ctx: click.Context, channel_id: str, amount: Decimal, account: str | None,
                  password_file: Path | None, as_json: bool) -> None:
    """Add AMOUNT stablecoin units to a channel you opened."""
    with _channels(ctx, account, password_file) as cc:
        asset = cc.asset
        _, receipt = cc.deposit(cc.config_of(channel_id), asset.base(amount))
        view = cc.view(channel_id)
    emit(as_json, {**view.to_json(asset), "transaction": "0x" + receipt.transaction_hash.hex()},
         lambda: _text(view, asset))


@channel.command("close")
@click.argument("channel_id")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def channel_close(ctx: click.Context, channel_id: str, account: str | None, password_file: Path | None,
                  as_json: bool) -> None:
    """Start the timed close; run again after the delay to take back what the payee did not claim."""
    with _channels(ctx, account, password_file) as cc:
        asset = cc.asset
        what, view, receipt = cc.close(channel_id)
    emit(as_json, {**view.to_json(asset), "action": what, "transaction": "0x" + receipt.transaction_hash.hex()},
         lambda: (f"closing: the payee may claim until {fmt_time(view.finalize_after or 0)}; run `tessera channel "
                  f"close {channel_id}` again after that" if what == "started" else _text(view, asset)))


@channel.command("status")
@click.argument("channel_id", required=False)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def channel_status(ctx: click.Context, channel_id: str | None, account: str | None, password_file: Path | None,
                   as_json: bool) -> None:
    """One channel, or every channel you opened from this data dir."""
    with _channels(ctx, account, password_file) as cc:
        asset = cc.asset
        views = [cc.view(i) for i in ([channel_id] if channel_id else cc.known())]
    if channel_id is None and not views and not as_json:
        raise PaymentError("no channels opened from this data dir: open one with `tessera channel open PAYEE --deposit N`")
    emit(as_json, {"channels": [v.to_json(asset) for v in views]},
         lambda: "\n".join(_text(v, asset) for v in views))
