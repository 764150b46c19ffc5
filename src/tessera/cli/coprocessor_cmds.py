"""`tessera coprocessor run|request|status|refund|health`: the coprocessor node and its consumers."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from ..coprocessor import (CoordinatorClient, CoprocessorConfig, CoprocessorNode, JobStatus, ProofMode,
                           RequestParams, encode_json_input, hash_instances)
from ..coprocessor.config import compile_models, describe, load_node_file
from ..errors import CoprocessorError
from ..units import amount_json, units_text
from ..protocol.faucet import fund_stablecoin, require_balance, top_up_on_devnet
from ..zkml import InferenceClient, input_commitment, load_input
from .options import (AMOUNT, ID, UINT64, TokenAmount, account_option, base_units, deployed, fmt_time, handle_errors,
                      json_option, password_file_option, resolve_signer, settings_from)
from .output import emit
from .nodelog import NodeLog, log_coprocessor_report
from .serve import ask_node, serve_node
from .zk_cmds import _cache_dir, _compile, circuit_options


@click.group()
def coprocessor() -> None:
    """Coprocessor: contracts request inference; bonded nodes deliver output and proof."""


@coprocessor.command("run")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="Node YAML (docs/coprocessor.md).")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True,
              help="Seconds between passes.")
@click.option("--once", is_flag=True, help="One pass, then exit (prints what it did).")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def run_cmd(ctx: click.Context, config_path: Path, interval: float, once: bool, account: str | None,
            password_file: Path | None, as_json: bool) -> None:
    """Follow Coordinator requests, compute, prove and deliver. State: <data dir>/coprocessor/<address>/."""
    settings = settings_from(ctx)
    with deployed(settings) as (chain, deployment):
        signer = resolve_signer(settings, chain, account, password_file)
        node_file = load_node_file(config_path, int(deployment.stablecoin.call("decimals")))
        models = compile_models(node_file.models, _cache_dir(ctx))
        registry = InferenceClient.of(chain, deployment)
        for compiled, entry in models:
            if entry.register:
                registry.register(signer, compiled)
            elif not registry.is_registered(compiled.model_id):
                raise CoprocessorError(f"model {compiled.model_id} ({entry.onnx}) is not in the ModelRegistry, so "
                                       "no request can name it: register it (`register: true` in the config)")
        config = CoprocessorConfig([c for c, _ in models], min_fee=node_file.min_fee,
                                   max_gas_price=node_file.max_gas_price, confirmations=node_file.confirmations,
                                   bump_after=node_file.bump_after, watch=node_file.watch)
        node = CoprocessorNode(chain, deployment, signer, config,
                               settings.data_dir / "coprocessor" / signer.address.lower())
        log = NodeLog(f"coprocessor {node.address[:10]}", as_json=as_json)
        bonded = int(node.client.node_bond(node.address)[0])
        for token, amount in top_up_on_devnet(chain, deployment, node.address,
                                              tsr=max(node_file.bond - bonded, 0)).items():
            log.event("funded", f"devnet: funded {units_text(amount, 18)} TSR from the deployer for the bond",
                      token=token, amount=str(amount))
        node.ensure_bonded(node_file.bond)
        if once:
            report = node.step()
            emit(as_json, {"node": node.address, "models": describe(models), "computed": report.computed,
                           "sent": report.sent, "finalized": report.finalized, "skipped": report.skipped,
                           "errors": report.errors},
                 f"node {node.address}: computed {len(report.computed)}, delivered {len(report.sent)}, "
                 f"finalized {len(report.finalized)}, skipped {len(report.skipped)}")
            return
        from ..coprocessor.api import create_app

        log.event("start", f"serving {len(node.models)} model(s) on {node_file.host}:{node_file.port}",
                  models=len(node.models), host=node_file.host, port=node_file.port)
        serve_node(create_app(node), lambda stop: node.run(stop, interval, lambda r: log_coprocessor_report(log, r)),
                   node_file.host, node_file.port)


@coprocessor.command("request")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--input", "input_path", type=click.Path(path_type=Path), required=True,
              help="Input JSON ({\"input_data\": [[...]]}).")
@circuit_options
@click.option("--fee", type=AMOUNT, default=Decimal("0.01"), show_default=True,
              help="Stablecoin per node per interval.")
@click.option("--mode", type=click.Choice(["none", "zk", "optimistic"]), default="zk", show_default=True)
@click.option("--redundancy", type=click.IntRange(1, 7), default=1, show_default=True,
              help="Nodes per interval (1-7); a majority decides.")
@click.option("--ttl", type=click.IntRange(1, 86400), default=600, show_default=True,
              help="Seconds an interval accepts deliveries (at most a day).")
@click.option("--count", type=click.IntRange(1, 2**32 - 1), default=1, show_default=True,
              help="Intervals (a subscription when > 1).")
@click.option("--period", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="Seconds between intervals (needed when --count > 1).")
@click.option("--max-gas-price-gwei", type=TokenAmount(Decimal(10**6)), default=Decimal(20), show_default=True,
              help="Most you reimburse per gas; the deposit is sized from it and the rest comes back.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def request_cmd(ctx: click.Context, model: Path, input_path: Path, batch: int, input_visibility: str,
                output_visibility: str, target: str, calibration_path: Path | None, srs_path: Path | None, fee: Decimal,
                mode: str, redundancy: int, ttl: int, count: int, period: int, max_gas_price_gwei: Decimal,
                account: str | None, password_file: Path | None, as_json: bool) -> None:
    """Request inference of MODEL on an input from this account (escrows the fee and the gas deposit)."""
    if count > 1 and period == 0:
        raise click.BadParameter("a subscription (--count > 1) needs --period SECONDS between intervals",
                                 param_hint="--period")
    compiled, _ = _compile(ctx, model, batch, input_visibility, output_visibility, target, calibration_path,
                           srs_path)
    data = load_input(input_path)
    settings = settings_from(ctx)
    with deployed(settings) as (chain, deployment):
        signer = resolve_signer(settings, chain, account, password_file)
        client = CoordinatorClient.of(chain, deployment)
        if not InferenceClient.of(chain, deployment).is_registered(compiled.model_id):
            raise CoprocessorError(_not_registered(deployment, compiled))
        params = RequestParams(bytes.fromhex(compiled.model_id[2:]),
                               hash_instances(input_commitment(compiled, data)),
                               base_units(fee, int(deployment.stablecoin.call("decimals")), "--fee"),
                               base_units(max_gas_price_gwei, 9, "--max-gas-price-gwei"), 200_000, ttl, redundancy,
                               ProofMode.parse(mode),
                               count, period)
        minted = _fund_escrow_on_devnet(chain, deployment, signer, client.escrow(params))
        request_id, receipt = client.request(signer, params, encode_json_input(data))
        dec = int(deployment.stablecoin.call("decimals"))
        emit(as_json, {"request_id": request_id, "block": receipt.block_number, "params": params.to_json(),
                       "gas_deposit": amount_json(client.gas_deposit(params), 18, "ETH"),
                       "escrow": amount_json(client.escrow(params), dec, str(deployment.stablecoin.call("symbol"))),
                       "minted_dev_stablecoin": amount_json(minted, dec, str(deployment.stablecoin.call("symbol")))},
             f"request {request_id} created in block {receipt.block_number} ({mode}, {redundancy} node(s), "
             f"{count} interval(s))")


def _fund_escrow_on_devnet(chain: Any, deployment: Any, signer: Any, escrow: int) -> int:
    """The dev stablecoin's owner mints what its own request needs on a devnet; anyone else must hold it."""
    have = int(deployment.stablecoin.call("balanceOf", signer.address))
    if have >= escrow:
        return 0
    dev_owner = deployment.manifest.stablecoin_is_dev and deployment.stablecoin.call("owner") == signer.address
    if chain.is_devnet and dev_owner:
        fund_stablecoin(chain, deployment, signer, signer.address, escrow - have)
        return escrow - have
    require_balance(chain, deployment, signer.address, escrow, token="stable", what="the request's escrow")
    return 0


def _completed(client: CoordinatorClient, request_id: int, interval: int) -> dict[str, Any] | None:
    topics = [request_id.to_bytes(32, "big"), interval.to_bytes(32, "big")]
    events = client.coordinator.get_events("JobCompleted", topics=topics)
    if not events:
        return None
    a = events[-1].args
    return {"block": events[-1].block_number, "output": list(a["output"]),
            "inference_id": "0x" + a["inferenceId"].hex(),
            "callback_ok": a["callbackOk"], "fees_paid": a["feesPaid"]}


@coprocessor.command("status")
@click.argument("request_id", type=ID)
@click.option("--interval", type=UINT64, default=0, show_default=True, help="Which interval of a subscription.")
@json_option
@click.pass_context
@handle_errors
def status_cmd(ctx: click.Context, request_id: int, interval: int, as_json: bool) -> None:
    """A request's interval on chain: status, deliveries, and the result once completed."""
    with deployed(settings_from(ctx)) as (chain, deployment):
        client = CoordinatorClient.of(chain, deployment)
        info = client.get_request(request_id)
        job = client.job(request_id, interval)
        opens, deadline = info.window(interval)
        result = _completed(client, request_id, interval) if job.status == JobStatus.COMPLETED else None
        body = {"request_id": request_id, "interval": interval, "consumer": info.consumer,
                "params": info.params.to_json(), "status": job.status.name.lower(), "deliveries": job.deliveries,
                "opens": opens, "deadline": deadline, "challenge_ends": job.challenge_ends, "result": result}
        text = f"request {request_id} interval {interval}: {body['status']}, {job.deliveries} deliveries"
        text += f"; window {fmt_time(opens)} to {fmt_time(deadline)}"
        if result:
            decoded, how = _decode(info.params.model_id, result["output"], _cache_dir(ctx))
            result["output"] = [str(v) for v in result["output"]]  # uint256: exact as strings
            result["decoded"] = decoded
            text += f"\noutput {json.dumps([round(v, 6) for v in decoded])} ({how}; block {result['block']})"
        emit(as_json, body, text)


def _not_registered(deployment: Any, compiled: Any) -> str:
    """Why a request's model id is unknown: the same ONNX registered under other circuit options (visibility,
    batch) is the usual reason, and the fix is to request with those options."""
    onnx_hash = bytes.fromhex(compiled.onnx_hash.removeprefix("0x"))
    same_onnx = [e for e in deployment.models.get_events("ModelRegistered") if bytes(e.args["onnxHash"]) == onnx_hash]
    if same_onnx:
        ids = ", ".join("0x" + bytes(e.args["modelId"]).hex()[:12] + "…" for e in same_onnx[:3])
        return (f"this ONNX model is registered as {ids}, but not with these circuit options (batch "
                f"{compiled.options.batch}, input {compiled.options.input_visibility}, output "
                f"{compiled.options.output_visibility}): pass the options the node serves it with "
                "(its config's `input_visibility`/`output_visibility`/`batch`)")
    return (f"model {compiled.model_id} is not registered: `tessera zk verify --onchain` or a node with "
            "`register: true` registers it")


def _decode(model_id: bytes, output: list[int], cache_dir: Path) -> tuple[list[float], str]:
    """Field elements → numbers: with the model's output scale when it was compiled here, else as integers."""
    from ..errors import ZkError
    from ..zkml import find_compiled
    from ..zkml.prover import decode_quantized

    try:
        compiled = find_compiled("0x" + bytes(model_id).hex(), cache_dir)
    except ZkError:
        return decode_quantized(output, 0), "quantized integers: compile the model here to see its scale"
    scale = compiled.output_scales[0] if compiled.output_scales else 0
    return decode_quantized(output, scale), f"decoded at scale 2^{scale}"


@coprocessor.command("refund")
@click.argument("request_id", type=ID)
@click.option("--interval", type=UINT64, default=0, show_default=True, help="Which interval of a subscription.")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def refund_cmd(ctx: click.Context, request_id: int, interval: int, account: str | None,
               password_file: Path | None, as_json: bool) -> None:
    """Return an interval's escrow to its consumer once its deadline passed without a result."""
    settings = settings_from(ctx)
    with deployed(settings) as (chain, deployment):
        signer = resolve_signer(settings, chain, account, password_file)
        receipt = CoordinatorClient.of(chain, deployment).refund(signer, request_id, interval)
        emit(as_json, {"request_id": request_id, "interval": interval, "block": receipt.block_number},
             f"request {request_id} interval {interval} refunded in block {receipt.block_number}")


@coprocessor.command("health")
@click.option("--endpoint", default="http://127.0.0.1:8711", show_default=True)
@json_option
@handle_errors
def health_cmd(endpoint: str, as_json: bool) -> None:
    """Ask a running node what it is doing."""
    body = ask_node(endpoint, "/health", "coprocessor")
    bond = body.get("bond")
    bond_text = f"{units_text(int(bond), 18)} TSR" if isinstance(bond, (int, str)) and str(bond).isdigit() else bond
    text = f"node {body.get('node')}: jobs {json.dumps(body.get('jobs'))}, bond {bond_text}"
    if body.get("last_error"):
        text += f"\nlast error: {body['last_error']}"
    emit(as_json, body, text)
