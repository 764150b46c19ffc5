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
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True,
              help="Seconds between passes.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def run_cmd(ctx: click.Context, config_path: Path, interval: float, account: str | None,
            password_file: Path | None, as_json: bool) -> None:
    """Run the node and its HTTP API until SIGINT/SIGTERM, one log line per action (--json: JSON lines).
    On a devnet the bond and bid deposits are funded from the deployer. State: <data dir>/provider/."""
    from ..protocol.faucet import top_up_on_devnet
    from ..units import units_text
    from .nodelog import NodeLog, log_provider_report

    settings = settings_from(ctx)
    with market_client(settings) as (chain, client):
        signer = resolve_signer(settings, chain, account, password_file)
        config, host, port = load_provider_config(config_path, client.decimals)
        node = ProviderNode(chain, client.deployment, signer, config,
                            settings.data_dir / "provider" / signer.address.lower())
        log = NodeLog(f"provider {node.address[:10]}", as_json=as_json)
        bonded = client.provider(node.address).bond
        funded = top_up_on_devnet(chain, client.deployment, node.address, tsr=max(config.bond - bonded, 0),
                                  stable=10 * int(client.market.call("bidDeposit")))
        for token, amount in funded.items():
            decimals = 18 if token == "tsr" else client.decimals
            log.event("funded", f"devnet: funded {units_text(amount, decimals)} {token.upper()} from the deployer",
                      token=token, amount=str(amount))
        before = client.provider(node.address)
        if node.ensure_registered():
            moved = before.registered and before.endpoint != config.endpoint
            verb = (f"replaced its registered endpoint {before.endpoint} with" if moved
                    else "updated its registration:" if before.registered else "registered:")
            log.event("registered", f"{verb} {config.endpoint}, bond {units_text(config.bond, 18)} TSR",
                      level="warning" if moved else "info", endpoint=config.endpoint, bond=str(config.bond))
        log.event("start", f"serving {config.endpoint} (listening on {host}:{port})", endpoint=config.endpoint,
                  host=host, port=port)
        serve_node(create_app(node), lambda stop: node.run(stop, interval, lambda r: log_provider_report(log, r)),
                   host, port, on_stop=node.stop_all)


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
