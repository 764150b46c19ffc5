"""The `tessera` command: a thin shell over the library."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from .. import __version__
from ..accounts.dev import dev_account
from ..accounts.keystore import Keystore
from ..chain.base import Chain
from ..chain.connect import connect
from ..chain.contract import Signer
from ..config import Settings, load_settings
from ..errors import DeploymentError, KeystoreError, TesseraError
from ..protocol.deploy import Deployment, manifest_path, read_manifest
from .output import emit, fail

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every TesseraError into a one-line message (or JSON error) and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TesseraError as e:
            fail(kwargs.get("as_json", False), e)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tessera")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data directory (default: $TESSERA_HOME or ~/.tessera).")
@click.option("--rpc-url", default=None, help="JSON-RPC URL; without it, the embedded chain is used.")
@click.option("--ephemeral", is_flag=True, help="Keep the embedded chain in memory for this command only.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, rpc_url: str | None, ephemeral: bool) -> None:
    """Tessera: verifiable AI compute on Ethereum."""
    ctx.obj = {"data_dir": data_dir, "rpc_url": rpc_url, "ephemeral": ephemeral}


def settings_from(ctx: click.Context) -> Settings:
    o = ctx.find_root().obj or {}
    return load_settings(o.get("data_dir"), rpc_url=o.get("rpc_url"), ephemeral=o.get("ephemeral") or None)


def read_password(password_file: Path | None, *, confirm: bool = False) -> str:
    if password_file is not None:
        try:
            return password_file.read_text().rstrip("\n")
        except OSError as e:
            raise KeystoreError(f"cannot read the password file {password_file} ({e.strerror}): check the path") from e
    return str(click.prompt("Keystore password", hide_input=True, confirmation_prompt=confirm))


def resolve_signer(settings: Settings, chain: Chain, account: str | None, password_file: Path | None) -> Signer:
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
def deployed(settings: Settings) -> Iterator[tuple[Chain, Deployment]]:
    """Connect to the configured chain and load the protocol deployment recorded for it."""
    with connect(settings) as chain:
        manifest = read_manifest(manifest_path(settings.deployments_dir, chain.chain_id))
        if manifest is None:
            raise DeploymentError(f"no deployment for chain {chain.chain_id} in {settings.deployments_dir}: "
                                  "run `tessera deploy` first")
        yield chain, Deployment.from_manifest(chain, manifest)


account_option = click.option("--account", default=None, help="Keystore account to sign with (devnets: dev account 0).")
password_file_option = click.option("--password-file", type=click.Path(path_type=Path), default=None,
                                    help="Read the keystore password from this file instead of prompting.")


def _register() -> None:
    from . import (account_cmds, chain_cmds, coprocessor_cmds, demo_cmds, market_cmds, provider_cmds, subnet_cmds,
                   zk_cmds)

    for command in (account_cmds.account, chain_cmds.deploy, chain_cmds.devnet, chain_cmds.chain_group,
                    chain_cmds.contracts, demo_cmds.demo, market_cmds.market, provider_cmds.provider,
                    subnet_cmds.subnet, zk_cmds.zk, coprocessor_cmds.coprocessor):
        cli.add_command(command)


_register()


def main() -> None:
    cli()
