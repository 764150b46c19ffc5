"""`tessera account ...`: encrypted keystore accounts."""

from __future__ import annotations

from pathlib import Path

import click

from ..accounts.keystore import Keystore
from ..errors import KeystoreError
from .options import (deployed, handle_errors, hint, json_option, password_file_option, read_password,
                      resolve_address, settings_from)
from .output import emit


@click.group()
def account() -> None:
    """Create, import and list encrypted keystore accounts."""


@account.command("new")
@click.argument("name")
@password_file_option
@json_option
@click.pass_context
@handle_errors
def account_new(ctx: click.Context, name: str, password_file: Path | None, as_json: bool) -> None:
    """Create a new account NAME with a fresh random key."""
    settings = settings_from(ctx)
    entry = Keystore(settings.keystore_dir).new(name, read_password(password_file, confirm=True))
    emit(as_json, {"name": entry.name, "address": entry.address, "path": str(entry.path)},
         f"created {entry.name} {entry.address}\nkeystore: {entry.path} (back it up; the password cannot be recovered)")


@account.command("import")
@click.argument("name")
@click.option("--key-file", type=click.Path(path_type=Path), default=None,
              help="File holding the hex private key (otherwise you are prompted).")
@password_file_option
@json_option
@click.pass_context
@handle_errors
def account_import(ctx: click.Context, name: str, key_file: Path | None, password_file: Path | None,
                   as_json: bool) -> None:
    """Import a private key as account NAME, encrypted with a password."""
    settings = settings_from(ctx)
    if key_file is not None:
        try:
            key = key_file.read_text().strip()
        except OSError as e:
            raise KeystoreError(f"cannot read the key file {key_file} ({e.strerror}): check the path") from e
    else:
        key = click.prompt("Private key (hex)", hide_input=True)
    entry = Keystore(settings.keystore_dir).import_key(name, key, read_password(password_file, confirm=True))
    emit(as_json, {"name": entry.name, "address": entry.address, "path": str(entry.path)},
         f"imported {entry.name} {entry.address}")


@account.command("list")
@json_option
@click.pass_context
@handle_errors
def account_list(ctx: click.Context, as_json: bool) -> None:
    """List keystore accounts."""
    settings = settings_from(ctx)
    entries = Keystore(settings.keystore_dir).list()
    emit(as_json, {"accounts": [{"name": e.name, "address": e.address, "path": str(e.path)} for e in entries]},
         "\n".join(f"{e.name:<20} {e.address}" for e in entries) or f"no accounts in {settings.keystore_dir}")


@account.command("balance")
@click.argument("address", required=False)
@json_option
@click.pass_context
@handle_errors
def account_balance(ctx: click.Context, address: str | None, as_json: bool) -> None:
    """ETH, stablecoin and TSR held by ADDRESS (an address or account name; default: the signing account)."""
    from ..protocol.faucet import balances

    settings = settings_from(ctx)
    with deployed(settings) as (chain, deployment):
        held = balances(chain, deployment, resolve_address(settings, chain, address))
        devnet = chain.is_devnet
    lines = held.lines()
    if devnet and not (held.eth and held.stable and held.tsr):
        lines.append(f"fund it with: `{hint(ctx, 'devnet fund ' + held.address)}`")
    emit(as_json, held.as_json(), "\n".join(lines))
