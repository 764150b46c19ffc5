"""Options, parameter types and helpers every `tessera` command shares.

Nothing heavy is imported at module level: `tessera --help` must not pay for web3 or py-evm.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import click

from ..config import Settings, load_settings
from ..errors import ConfigError, DeploymentError, KeystoreError, TesseraError
from .output import fail

if TYPE_CHECKING:
    from ..chain.base import Chain
    from ..chain.contract import Signer
    from ..protocol.deploy import Deployment

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
account_option = click.option("--account", default=None, help="Keystore account to sign with (devnets: dev account 0).")
password_file_option = click.option("--password-file", type=click.Path(path_type=Path), default=None,
                                    help="Read the keystore password from this file instead of prompting.")

# ABI bounds for ids: a uint64 on every contract that numbers things
UINT64 = click.IntRange(0, 2**64 - 1)
ID = click.IntRange(1, 2**64 - 1)


class TokenAmount(click.ParamType):
    """A token amount in units (decimals allowed, e.g. 2.50), parsed as a Decimal: never through a float."""

    name = "amount"

    def __init__(self, maximum: Decimal | None = Decimal(10) ** 30) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            amount = value
        else:
            try:
                amount = Decimal(str(value).strip())
            except InvalidOperation:
                self.fail(f"{value!r} is not an amount: write units such as 10 or 2.50", param, ctx)
        if not amount.is_finite() or amount < 0:
            self.fail(f"{value} must be a non-negative number of token units", param, ctx)
        if self.maximum is not None and amount > self.maximum:
            self.fail(f"{value} is more than {self.maximum:,} units: check the number", param, ctx)
        return amount


AMOUNT = TokenAmount()


def base_units(amount: Decimal, decimals: int, what: str) -> int:
    units = amount * (Decimal(10) ** decimals)
    if units != units.to_integral_value():
        raise ConfigError(f"{what}: {amount} has more than {decimals} decimals: round it")
    return int(units)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every failure is one line (or one JSON error) and exit code 1. TesseraErrors carry their fix; anything
    else is a bug in Tessera, shown as one line that says so (TESSERA_DEBUG=1 shows the traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = kwargs.get("as_json", False)
        try:
            return fn(*args, **kwargs)
        except TesseraError as e:
            fail(as_json, e)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - the boundary: a user never sees a traceback
            if os.environ.get("TESSERA_DEBUG"):
                raise
            fail(as_json, TesseraError(f"internal error {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                                       " - this is a bug in Tessera; rerun with TESSERA_DEBUG=1 and report it"))

    return wrapper


def settings_from(ctx: click.Context) -> Settings:
    o = ctx.find_root().obj or {}
    return load_settings(o.get("data_dir"), rpc_url=o.get("rpc_url"), ephemeral=o.get("ephemeral") or None)


def global_flags(ctx: click.Context) -> str:
    """The global options the user passed, to repeat them in "next:" hints."""
    o = ctx.find_root().obj or {}
    parts = []
    if o.get("data_dir"):
        parts.append(f"--data-dir {o['data_dir']}")
    if o.get("rpc_url"):
        parts.append(f"--rpc-url {o['rpc_url']}")
    return " ".join(parts)


def hint(ctx: click.Context, command: str) -> str:
    """`tessera <global flags> <command>`, for "next:" lines."""
    flags = global_flags(ctx)
    return f"tessera {flags + ' ' if flags else ''}{command}"


def read_password(password_file: Path | None, *, confirm: bool = False) -> str:
    if password_file is not None:
        try:
            return password_file.read_text().rstrip("\n")
        except OSError as e:
            raise KeystoreError(f"cannot read the password file {password_file} ({e.strerror}): check the path") from e
    if not sys.stdin.isatty():
        raise KeystoreError("a keystore password is needed and there is no terminal to ask on: pass --password-file")
    return str(click.prompt("Keystore password", hide_input=True, confirmation_prompt=confirm))


def resolve_signer(settings: Settings, chain: "Chain", account: str | None, password_file: Path | None) -> "Signer":
    from ..accounts.dev import dev_account
    from ..accounts.keystore import Keystore

    name = account or settings.account
    if name:
        return Keystore(settings.keystore_dir).load(name, read_password(password_file))
    if chain.is_devnet:
        return dev_account(0)
    raise KeystoreError(
        f"chain {chain.chain_id} is not a devnet, so dev keys are refused: pass --account NAME "
        "(create one with `tessera account new NAME`)"
    )


@contextlib.contextmanager
def deployed(settings: Settings) -> Iterator[tuple["Chain", "Deployment"]]:
    """Connect to the configured chain and load the protocol deployment recorded for it. On the embedded
    devnet the protocol is deployed on first use (deploying is idempotent): zero setup."""
    from ..accounts.dev import dev_account
    from ..chain.connect import connect
    from ..protocol.deploy import Deployment, deploy_protocol, manifest_path, manifest_matches_chain, read_manifest

    with connect(settings) as chain:
        path = manifest_path(settings.deployments_dir, chain.chain_id)
        manifest = read_manifest(path)
        if chain.backend == "embedded" and chain.is_devnet and (manifest is None
                                                                or not manifest_matches_chain(chain, manifest)):
            manifest, _ = deploy_protocol(chain, dev_account(0), path=None if settings.ephemeral else path)
        if manifest is None:
            raise DeploymentError(f"no deployment for chain {chain.chain_id} in {settings.deployments_dir}: "
                                  "run `tessera deploy` first")
        if not manifest_matches_chain(chain, manifest):
            raise DeploymentError(
                f"{path} describes another chain with id {chain.chain_id} (genesis {manifest.genesis_hash[:10]}…, "
                f"contracts gone): the chain was reset; run `tessera deploy` again")
        yield chain, Deployment.from_manifest(chain, manifest)


def fmt_time(ts: int) -> str:
    """A chain timestamp as a date people read (UTC)."""
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def resolve_address(settings: Settings, chain: "Chain", who: str | None) -> str:
    """An address (checksummed), a keystore account name, or (None) the account commands sign with."""
    from eth_utils import is_address, to_checksum_address

    from ..accounts.dev import dev_account
    from ..accounts.keystore import Keystore

    if who is None:
        if settings.account:
            who = settings.account
        elif chain.is_devnet:
            return str(dev_account(0).address)
        else:
            raise KeystoreError("which account? pass an ADDRESS or a keystore account NAME")
    if who.startswith("0x"):
        if not is_address(who):
            raise ConfigError(f"{who} is not an address (0x and 40 hex digits, checksum optional): check it")
        return str(to_checksum_address(who))
    for entry in Keystore(settings.keystore_dir).list():
        if entry.name == who:
            return str(to_checksum_address(entry.address))
    raise KeystoreError(f"{who!r} is neither an address nor an account in {settings.keystore_dir}: "
                        "`tessera account list` shows the accounts")
