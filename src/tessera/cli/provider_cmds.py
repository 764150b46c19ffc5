"""`tessera provider run|status`: the provider node as a long-running service."""

from __future__ import annotations

from pathlib import Path

import click

from ..provider import ProviderNode
from ..provider.api import create_app
from ..provider.config import load_provider_config
from .options import account_option, handle_errors, json_option, password_file_option, resolve_signer, settings_from
from .market_cmds import market_client
from .output import emit
from .serve import ask_node, serve_node


@click.group()
def provider() -> None:
    """Provider node: register, bid, run workloads, heartbeat, withdraw."""


@provider.command("run")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="Provider YAML (docs/market.md).")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between passes.")
@account_option
@password_file_option
@click.pass_context
@handle_errors
def run_cmd(ctx: click.Context, config_path: Path, interval: float, account: str | None,
            password_file: Path | None) -> None:
    """Run the node and its HTTP API until SIGINT/SIGTERM. State: <data dir>/provider/."""
    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        config, host, port = load_provider_config(config_path, client.decimals)
        node = ProviderNode(chain, client.deployment, signer, config,
                            settings.data_dir / "provider" / signer.address.lower())

        click.echo(f"provider {node.address} serving {config.endpoint} (listening on {host}:{port})", err=True)
        serve_node(create_app(node), lambda stop: node.run(stop, interval), host, port, on_stop=node.stop_all)


@provider.command("status")
@click.option("--endpoint", default="http://127.0.0.1:8701", show_default=True)
@json_option
@handle_errors
def status_cmd(endpoint: str, as_json: bool) -> None:
    """Ask a running node what it is doing."""
    body = ask_node(endpoint, "/status", "provider")
    lines = [f"provider {body['provider']} at {body['endpoint']}, orders {body['orders']}"]
    lines += [f"  lease {x['lease_id']}: {x['status']} served {x['served']}" for x in body["leases"]]
    if body.get("last_error"):
        lines.append(f"last error: {body['last_error']}")
    emit(as_json, body, "\n".join(lines))
