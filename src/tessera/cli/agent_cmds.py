"""`tessera agent` and `tessera job`: agent identities, policy wallets, signed policies, approvals, contract
ranking, sentences to plans; and the job board (post, deliver, accept, dispute, release, refund)."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import click

from ..errors import AgentError
from .options import (AMOUNT, ID, UINT64, account_option, deployed, fmt_time, handle_errors, json_option,
                      password_file_option, resolve_address, resolve_signer, settings_from)
from .output import emit

wallet_option = click.option("--wallet", required=True, help="The agent's PolicyWallet address.")


@contextlib.contextmanager
def _signed(ctx: click.Context, account: str | None, password_file: Path | None) -> Iterator[tuple[Any, Any, Any]]:
    """(chain, deployment, signer) on the configured chain."""
    settings = settings_from(ctx)
    with deployed(settings) as (chain, d):
        yield chain, d, resolve_signer(settings, chain, account, password_file)


def _tx(receipt: Any) -> str:
    return "0x" + receipt.transaction_hash.hex()


@click.group()
def agent() -> None:
    """Agents: identities, policy wallets, signed policies, approvals, ranking, plans."""


@agent.command("register")
@click.argument("card", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--uri", default=None, help="Where the card is published (default: the file's URI).")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def agent_register(ctx: click.Context, card: Path, uri: str | None, account: str | None, password_file: Path | None,
                   as_json: bool) -> None:
    """Mint an agent identity (ERC-721) for the service card CARD (JSON: name, endpoint, skills, prices)."""
    from ..agents.jobs import AgentRegistryClient

    with _signed(ctx, account, password_file) as (_, d, signer):
        client = AgentRegistryClient(d)
        agent_id, receipt = client.register(signer, card, uri)
        view = client.view(agent_id)
    emit(as_json, {**view.to_json(), "transaction": _tx(receipt)},
         f"agent {agent_id} registered to {view.owner} (card {view.card_hash[:18]}…); prove a payout wallet with "
         "`setPayoutWallet`, or payments go to the owner")


@agent.command("show")
@click.argument("agent_id", type=ID)
@json_option
@click.pass_context
@handle_errors
def agent_show(ctx: click.Context, agent_id: int, as_json: bool) -> None:
    """An agent's owner, payout wallet, card and reputation (with the payments behind it)."""
    from ..agents.jobs import AgentRegistryClient
    from ..units import units_text

    with deployed(settings_from(ctx)) as (_, d):
        view = AgentRegistryClient(d).view(agent_id)
    emit(as_json, view.to_json(), lambda: (
        f"agent {view.id}: owner {view.owner}, payout {view.payout}\n  card {view.uri} ({view.card_hash[:18]}…)\n"
        f"  reputation {view.score}/100 from {view.raters} rater(s), resting on {units_text(view.paid_volume, 6)} "
        f"tUSD paid by {view.payers} distinct payer(s)"))


@agent.group("wallet")
def agent_wallet() -> None:
    """The agent's PolicyWallet (a smart account its owner controls)."""


@agent_wallet.command("create")
@click.option("--agent", "agent_address", required=True, help="The agent's address (it spends within the caps).")
@click.option("--fund", type=AMOUNT, default=None, help="Stablecoin units to move in from the owner's account.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def agent_wallet_create(ctx: click.Context, agent_address: str, fund: Decimal | None, account: str | None,
                        password_file: Path | None, as_json: bool) -> None:
    """Deploy a PolicyWallet owned by --account for the agent; caps are set when a policy is pinned."""
    from ..agents import PolicyWallet
    from ..payments import PaymentAsset

    with _signed(ctx, account, password_file) as (chain, d, signer):
        address = resolve_address(settings_from(ctx), chain, agent_address)
        wallet = PolicyWallet.deploy(chain, signer, address)
        funded = 0
        if fund is not None:
            asset = PaymentAsset.read(chain, d.stablecoin.address)
            funded = asset.base(fund)
            d.stablecoin.transact(signer, "transfer", wallet.address, funded)
    emit(as_json, {"wallet": wallet.address, "owner": signer.address, "agent": address, "funded": str(funded)},
         f"PolicyWallet {wallet.address} (owner {signer.address}, agent {address}); next: write a policy, then "
         "`tessera agent policy sign FILE` and `tessera agent policy pin FILE`")


@agent.group("policy")
def agent_policy() -> None:
    """The owner's signed policy file."""


@agent_policy.command("sign")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def policy_sign(ctx: click.Context, path: Path, account: str | None, password_file: Path | None, as_json: bool) -> None:
    """Sign PATH with the owner's key (writes PATH.sig)."""
    from ..agents import sign_policy

    with _signed(ctx, account, password_file) as (chain, _, signer):
        sig = sign_policy(path, signer, chain.chain_id)
    emit(as_json, {"signature_file": str(sig), "signer": signer.address}, f"signed by {signer.address}: {sig}")


@agent_policy.command("pin")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def policy_pin(ctx: click.Context, path: Path, account: str | None, password_file: Path | None, as_json: bool) -> None:
    """Make the wallet enforce the signed policy PATH (caps, payees, contracts, then its hash and version)."""
    from ..agents import PolicyWallet, read_spec

    with _signed(ctx, account, password_file) as (chain, _, signer):
        _, spec = read_spec(path)
        wallet = PolicyWallet(chain, spec.wallet)
        receipts = wallet.pin(signer, path)
        pinned, version = wallet.pinned()
    emit(as_json, {"wallet": spec.wallet, "version": version, "policy_hash": "0x" + pinned.hex(),
                   "transactions": [_tx(r) for r in receipts]},
         f"pinned version {version} on {spec.wallet} in {len(receipts)} transaction(s)")


@agent_policy.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@click.pass_context
@handle_errors
def policy_check(ctx: click.Context, path: Path, as_json: bool) -> None:
    """Would the agent obey PATH? (signed by the wallet's owner, pinned, caps as on chain)"""
    from ..agents import PolicyWallet, read_spec

    with deployed(settings_from(ctx)) as (chain, _):
        _, spec = read_spec(path)
        policy = PolicyWallet(chain, spec.wallet).trusted_policy(path)
    c = policy.caps
    emit(as_json, {"ok": True, "version": spec.version, "per_payment": str(c.per_payment), "per_window": str(c.per_window),
                   "window": c.window, "approval_above": str(c.approval_above)},
         f"trusted: version {spec.version}, {policy.text(c.per_payment)} a payment, {policy.text(c.per_window)} per "
         f"{c.window} s, approval above {policy.text(c.approval_above)}")


def _proposal_command(action: str, doc: str) -> None:
    """`agent approve` and `agent reject`: the owner answers a payment waiting above the approval threshold."""

    @click.argument("proposal", type=UINT64)
    @wallet_option
    @account_option
    @password_file_option
    @json_option
    @click.pass_context
    @handle_errors
    def command(ctx: click.Context, proposal: int, wallet: str, account: str | None, password_file: Path | None,
                as_json: bool) -> None:
        from ..agents import PolicyWallet

        with _signed(ctx, account, password_file) as (chain, _, signer):
            w = PolicyWallet(chain, wallet)
            receipt = w.approve(signer, proposal) if action == "approve" else w.reject(signer, proposal)
        emit(as_json, {"proposal": proposal, "action": action, "transaction": _tx(receipt)},
             f"proposal {proposal} {'approved and paid' if action == 'approve' else 'rejected'}")

    command.__doc__ = doc
    agent.command(action)(command)


_proposal_command("approve", "The owner approves a payment waiting above the approval threshold (it is paid now).")
_proposal_command("reject", "The owner rejects a waiting payment.")


@agent.command("rank")
@click.argument("address")
@click.option("--known-bad", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML mapping of addresses to reasons.")
@json_option
@click.pass_context
@handle_errors
def agent_rank(ctx: click.Context, address: str, known_bad: Path | None, as_json: bool) -> None:
    """Score a contract 0-100 from on-chain facts, each explained."""
    from ..agents.ranking import ContractRanker, load_known_bad

    with deployed(settings_from(ctx)) as (chain, d):
        ranking = ContractRanker(chain, token=d.stablecoin.address,
                                 known_bad=load_known_bad(known_bad) if known_bad else None).rank(
            resolve_address(settings_from(ctx), chain, address))
    emit(as_json, ranking.to_json(), lambda: f"{ranking.address}: {ranking.score}/100\n" + "\n".join(
        f"  {p:>2} {f}: {why}" for f, p, why in ranking.reasons))


@agent.command("chat")
@click.argument("sentence")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The agent's signed policy: each spending step is decided by it.")
@click.option("--yes", is_flag=True, help="Carry out the plan if every step is allowed (payments only).")
@click.option("--llm-url", default=None, help="An OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1) to read "
              "the sentence instead of the offline parser; its proposal still goes through the policy.")
@click.option("--llm-model", default="gpt-4o-mini", show_default=True)
@click.option("--llm-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="File holding the endpoint's API key (never an environment variable).")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def agent_chat(ctx: click.Context, sentence: str, policy_path: Path | None, yes: bool, llm_url: str | None,
               llm_model: str, llm_key_file: Path | None, account: str | None, password_file: Path | None,
               as_json: bool) -> None:
    """Turn SENTENCE into a plan of transactions (offline unless --llm-url), shown for confirmation."""
    from ..agents import AgentWallet, PolicyWallet, read_spec
    from ..agents.intents import Pay
    from ..agents.planner import Planner

    settings = settings_from(ctx)
    with deployed(settings) as (chain, d):
        agent_wallet = None
        if policy_path is not None:
            _, spec = read_spec(policy_path)
            wallet = PolicyWallet(chain, spec.wallet)
            signer = resolve_signer(settings, chain, account, password_file)
            agent_wallet = AgentWallet(wallet, signer, wallet.trusted_policy(policy_path))  # type: ignore[arg-type]
        planner = Planner(d, agent_wallet.engine if agent_wallet else None)
        parser = None
        if llm_url:
            from ..agents.llm import LlmIntents

            parser = LlmIntents(llm_url, llm_model, key_file=llm_key_file)
        plan = planner.plan(sentence, parser)
        done = None
        if yes:
            if plan.refused:  # "approve" verdicts go ahead: they wait for the owner as proposals
                raise AgentError("not carried out: " + "; ".join(plan.refused))
            if not isinstance(plan.intent, Pay) or agent_wallet is None:
                raise AgentError("--yes carries out payments from a policy wallet (pass --policy); run the other "
                                 "plans with `tessera market order`, `tessera job post` or `tessera zk prove`")
            step = plan.steps[0].step
            spent = agent_wallet.pay(str(step.args["to"]), int(step.args["amount"]))
            done = {"verdict": spent.decision.verdict, "proposal": spent.proposal,
                    "transaction": _tx(spent.receipt) if spent.receipt else None}
    emit(as_json, {**plan.to_json(), "done": done}, lambda: "\n".join(
        [f"plan for: {sentence}", *plan.lines(),
         ("done: " + (f"waiting for the owner as proposal {done['proposal']}" if done["proposal"] is not None
                      else f"paid ({done['transaction']})")) if done else
         ("refused by the policy" if plan.refused else "confirm with --yes")]))


# -- jobs -----------------------------------------------------------------------------------------
@click.group()
def job() -> None:
    """The job board: hire agents with escrow, take-over, review and refunds."""


@job.command("post")
@click.option("--task", required=True, help="What to do (its hash is posted; send the text to the agent).")
@click.option("--max", "max_price", type=AMOUNT, required=True, help="Most to pay, in stablecoin units.")
@click.option("--hours", type=click.FloatRange(0.01, 720), default=24.0, show_default=True, help="Deadline.")
@click.option("--priority-agent", type=UINT64, default=0, help="An agent that alone may deliver at first.")
@click.option("--priority-minutes", type=click.IntRange(0, 43_200), default=0, show_default=True)
@click.option("--review-minutes", type=click.IntRange(1, 43_200), default=60, show_default=True)
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def job_post(ctx: click.Context, task: str, max_price: Decimal, hours: float, priority_agent: int,
             priority_minutes: int, review_minutes: int, account: str | None, password_file: Path | None,
             as_json: bool) -> None:
    """Escrow --max for a job any registered agent (or first the priority agent) may deliver."""
    from ..agents.jobs import JobBoardClient
    from ..payments import PaymentAsset

    with _signed(ctx, account, password_file) as (chain, d, signer):
        asset = PaymentAsset.read(chain, d.stablecoin.address)
        jobs = JobBoardClient(d)
        args = jobs.post_args(task, asset.base(max_price), hours, priority_agent=priority_agent,
                              priority_window=priority_minutes * 60, review_window=review_minutes * 60)
        job_id, receipt = jobs.post(signer, args)
        view = jobs.view(job_id)
    emit(as_json, {**view.to_json(), "transaction": _tx(receipt)}, lambda: view.text())


@job.command("list")
@json_option
@click.pass_context
@handle_errors
def job_list(ctx: click.Context, as_json: bool) -> None:
    """The latest jobs and their states."""
    from ..agents.jobs import JobBoardClient

    with deployed(settings_from(ctx)) as (_, d):
        views = JobBoardClient(d).list()
    emit(as_json, {"jobs": [v.to_json() for v in views]},
         lambda: "\n".join(v.text() for v in views) or "no jobs yet: post one with `tessera job post`")


@job.command("deliver")
@click.argument("job_id", type=UINT64)
@click.option("--agent", "agent_id", type=ID, required=True, help="Your agent's id (you must own it).")
@click.option("--result", required=True, help="The result (its hash is delivered).")
@click.option("--price", type=AMOUNT, required=True, help="What you charge, up to the job's max.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def job_deliver(ctx: click.Context, job_id: int, agent_id: int, result: str, price: Decimal, account: str | None,
                password_file: Path | None, as_json: bool) -> None:
    """Deliver (commit, then reveal in a later block) for your agent."""
    from ..agents.jobs import JobBoardClient
    from ..payments import PaymentAsset

    with _signed(ctx, account, password_file) as (chain, d, signer):
        asset = PaymentAsset.read(chain, d.stablecoin.address)
        jobs = JobBoardClient(d)
        receipt = jobs.deliver(signer, job_id, agent_id, result.encode(), asset.base(price))
        view = jobs.view(job_id)
    emit(as_json, {**view.to_json(), "transaction": _tx(receipt)},
         lambda: view.text() + (f"; paid unless disputed by {fmt_time(view.review_until)}"
                                if view.state == "delivered" else ""))


def _job_action(action: str, doc: str) -> click.Command:
    @click.argument("job_id", type=UINT64)
    @account_option
    @password_file_option
    @json_option
    @click.pass_context
    @handle_errors
    def command(ctx: click.Context, job_id: int, account: str | None, password_file: Path | None,
                as_json: bool) -> None:
        from ..agents.jobs import JobBoardClient

        with _signed(ctx, account, password_file) as (_, d, signer):
            jobs = JobBoardClient(d)
            receipt = jobs.act(signer, action, job_id)
            view = jobs.view(job_id)
        emit(as_json, {**view.to_json(), "transaction": _tx(receipt)}, lambda: view.text())

    command.__doc__ = doc
    return job.command(action)(command)


_job_action("accept", "The poster accepts the delivery: the agent is paid now.")
_job_action("dispute", "The poster disputes the delivery within the review window: the referee decides.")
_job_action("release", "Pay a delivery the poster left unanswered past the review window (anyone).")
_job_action("refund", "Refund the poster of a job nobody delivered by its deadline (anyone).")


@agent.command("run")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="agent.yaml: name, account, policy, listen, skills, prices.")
@password_file_option
@click.pass_context
@handle_errors
def agent_run(ctx: click.Context, config_path: Path, password_file: Path | None) -> None:
    """Run the agent until interrupted: publish its card, serve its paid skills, spend through its policy."""
    import time

    import uvicorn

    from ..agent_node import AgentNode, create_app, load_agent_config

    def log(line: str) -> None:
        click.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", err=True)

    settings = settings_from(ctx)
    config = load_agent_config(config_path)
    with deployed(settings) as (chain, d):
        key = resolve_signer(settings, chain, config.account, password_file)
        state = settings.data_dir / "agents" / config.name
        node = AgentNode(chain, d, key, config, state, log=log)  # type: ignore[arg-type]
        agent_id = node.ensure_registered()
        app = create_app(node, state)
        log(f"agent {config.name} (id {agent_id}, wallet {node.wallet.address}) on http://{config.host}:{config.port}"
            f"; budget left today {node.agent.policy.text(node.agent.engine.budget_left())}")
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
