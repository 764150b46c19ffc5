"""The `tessera` command: a thin shell over the library.

Subcommands load on first use (`_COMMANDS`), so `tessera --help` and `--version` start without
importing web3, py-evm or torch.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from .. import __version__

# name → (module under tessera.cli, attribute, one-line help shown by `tessera --help`)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "account": ("account_cmds", "account", "Encrypted keystore accounts and balances."),
    "agent": ("agent_cmds", "agent", "Agents: identities, policy wallets, signed policies, approvals, ranking, plans."),
    "chain": ("chain_cmds", "chain_group", "Inspect the chain Tessera is connected to."),
    "channel": ("payment_cmds", "channel", "Payment channels: open, top up, close, status."),
    "contracts": ("chain_cmds", "contracts", "Compiled contract artifacts."),
    "coprocessor": ("coprocessor_cmds", "coprocessor", "Coprocessor node and requests: contracts ask, nodes answer."),
    "demo": ("demo_cmds", "demo", "Run the end-to-end demo on a fresh embedded chain."),
    "deploy": ("chain_cmds", "deploy", "Deploy the protocol (idempotent) and write the deployment manifest."),
    "job": ("agent_cmds", "job", "The job board: post, deliver, accept, dispute, release, refund."),
    "facilitator": ("payment_cmds", "facilitator", "x402 facilitator: verify and settle payments over this chain."),
    "devnet": ("chain_cmds", "devnet", "Local devnet: start/stop anvil, fund accounts, mine blocks."),
    "market": ("market_cmds", "market", "Tenant commands: order compute, watch bids, accept, top up, close."),
    "pay": ("payment_cmds", "pay", "Pay for HTTP calls that answer 402 (x402), within a cap."),
    "provider": ("provider_cmds", "provider", "Provider node: register, bid, run workloads, heartbeat, withdraw."),
    "train": ("train_cmds", "train", "Bit-reproducible training: run a task locally."),
    "subnet": ("subnet_cmds", "subnet", "Incentive subnets: create, register, miners, validators, epochs."),
    "zk": ("zk_cmds", "zk", "Verifiable inference: compile, prove and verify ONNX models with EZKL."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"{__package__}.{entry[0]}")
        command: click.Command = getattr(module, entry[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tessera")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data directory (default: $TESSERA_HOME or ~/.tessera).")
@click.option("--rpc-url", default=None, help="JSON-RPC URL; without it, the embedded chain is used.")
@click.option("--ephemeral", is_flag=True, help="Keep the embedded chain in memory for this command only.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, rpc_url: str | None, ephemeral: bool) -> None:
    """Tessera: verifiable AI compute on Ethereum."""
    ctx.obj = {"data_dir": data_dir, "rpc_url": rpc_url, "ephemeral": ephemeral}


def main(argv: list[str] | None = None) -> None:
    """The entry point. Usage errors (a bad option value, a missing argument) are one `error:` line naming
    the option and exit 1, like every other failure; --help and --version exit 0."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = cli.main(args, prog_name="tessera", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(1)
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else "tessera"
        message = f"{e.format_message()} (see `{where} --help`)"
        if "--json" in args:
            click.echo(json.dumps({"ok": False, "error": message, "type": "UsageError"}))
        else:
            click.echo(f"error: {message}", err=True)
        sys.exit(1)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
