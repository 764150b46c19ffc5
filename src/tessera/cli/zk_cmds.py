"""`tessera zk ...`: compile ONNX models to circuits, prove inferences, verify proofs locally or on-chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import ContractRevert, ZkInputError
from ..zkml import (CompiledModel, InferenceClient, InferenceProof, ZkOptions, batch_model, check_input,
                    compile_model, default_cache_dir, estimate, find_compiled, load_input, load_model, prove, verify)
from ..zkml.options import TARGETS, VISIBILITIES
from .options import account_option, deployed, handle_errors, json_option, password_file_option, resolve_signer, settings_from
from .output import emit, fail

UNSAFE = "UNSAFE dev SRS (generated locally: fine for a devnet, forgeable in production)"


def circuit_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--batch", type=click.IntRange(1, 4096), default=1, show_default=True,
                     help="Inferences per proof."),
        click.option("--input-visibility", type=click.Choice(VISIBILITIES), default="hashed", show_default=True,
                     help="hashed: the proof shows a Poseidon hash of the input; public: every input value."),
        click.option("--output-visibility", type=click.Choice(VISIBILITIES), default="hashed", show_default=True,
                     help="hashed: the proof shows a Poseidon hash of the output; public: every output value."),
        click.option("--target", type=click.Choice(TARGETS), default="resources", show_default=True,
                     help="Calibrate for the smallest circuit (resources) or the closest outputs (accuracy)."),
        click.option("--calibration", "calibration_path", type=click.Path(path_type=Path), default=None,
                     help="Representative inputs ({\"input_data\": [[...]]}) for calibration; default: uniform [-1, 1]."),
        click.option("--srs", "srs_path", type=click.Path(path_type=Path), default=None,
                     help="KZG SRS file (a ceremony's); default: generate an UNSAFE local one (devnets only)."),
    ]):
        fn = option(fn)
    return fn


def _cache_dir(ctx: click.Context) -> Path:
    return default_cache_dir(settings_from(ctx).data_dir)


def _options(batch: int, input_visibility: str, output_visibility: str, target: str) -> ZkOptions:
    return ZkOptions(input_visibility=input_visibility, output_visibility=output_visibility, target=target,
                     batch=batch)


def _compile(ctx: click.Context, model: Path, batch: int, input_visibility: str, output_visibility: str,
             target: str, calibration_path: Path | None, srs_path: Path | None,
             force: bool = False) -> tuple[CompiledModel, bool]:
    calibration = load_input(calibration_path) if calibration_path is not None else None
    return compile_model(model, _options(batch, input_visibility, output_visibility, target),
                         cache_dir=_cache_dir(ctx), srs_path=srs_path, calibration=calibration, force=force)


def _srs_note(compiled: CompiledModel) -> str:
    return UNSAFE if compiled.srs_unsafe else f"SRS {compiled.srs['label']}"


@click.group()
def zk() -> None:
    """Verifiable inference: ONNX → EZKL circuit → proof, verified locally or on-chain."""


@zk.command("compile")
@click.argument("model", type=click.Path(path_type=Path))
@circuit_options
@click.option("--force", is_flag=True, help="Rebuild even if the cache holds this model.")
@json_option
@click.pass_context
@handle_errors
def compile_cmd(ctx: click.Context, model: Path, batch: int, input_visibility: str, output_visibility: str,
                target: str, calibration_path: Path | None, srs_path: Path | None, force: bool,
                as_json: bool) -> None:
    """Calibrate, compile the circuit and set up keys (cached: a second run skips all of it)."""
    compiled, hit = _compile(ctx, model, batch, input_visibility, output_visibility, target, calibration_path,
                             srs_path, force)
    keys = "cached (setup skipped)" if hit else f"set up in {compiled.timings.get('setup_s', 0.0):.1f} s"
    emit(as_json, {"model_id": compiled.model_id, "cache_hit": hit, "logrows": compiled.logrows,
                   "batch_size": compiled.options.batch, "srs": compiled.srs, "timings": compiled.timings,
                   "inputs": compiled.inputs, "outputs": compiled.outputs, "directory": str(compiled.directory)},
         lambda: "\n".join([
             f"model id   {compiled.model_id}",
             f"circuit    2^{compiled.logrows} rows, batch {compiled.options.batch}, input {input_visibility}, "
             f"output {output_visibility}",
             f"keys       {keys} in {compiled.directory}",
             f"srs        {_srs_note(compiled)}",
         ]))


@zk.command("estimate")
@click.argument("model", type=click.Path(path_type=Path))
@circuit_options
@json_option
@handle_errors
def estimate_cmd(model: Path, batch: int, input_visibility: str, output_visibility: str, target: str,
                 calibration_path: Path | None, srs_path: Path | None, as_json: bool) -> None:
    """Predict logrows, memory and time before proving; exits 1 when the model would not fit this machine."""
    est = estimate(model, _options(batch, input_visibility, output_visibility, target))
    payload = est.to_json()
    text = (f"2^{est.logrows} rows; proving needs ~{est.predicted_memory_bytes / 2**30:.1f} GiB and "
            f"~{est.predicted_prove_seconds:.0f} s; {est.reason}")
    if not est.fits:
        if as_json:
            click.echo(json.dumps({"ok": False, **payload}, indent=2))
            raise SystemExit(1)
        fail(False, f"refused: {model.name} {est.reason}: use a smaller model or batch, or a bigger machine")
    emit(as_json, payload, text)


@zk.command("prove")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--input", "input_path", type=click.Path(path_type=Path), required=True,
              help='Input JSON as ezkl takes it: {"input_data": [[...]]}, one flat list per model input.')
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="Write the proof here.")
@circuit_options
@json_option
@click.pass_context
@handle_errors
def prove_cmd(ctx: click.Context, model: Path, input_path: Path, out_path: Path, batch: int,
              input_visibility: str, output_visibility: str, target: str, calibration_path: Path | None,
              srs_path: Path | None, as_json: bool) -> None:
    """Prove one inference (or a batch) of MODEL; compiles it first unless cached."""
    data = load_input(input_path)
    check_input(batch_model(load_model(model), batch), data)  # a wrong input fails before any compiling
    compiled, hit = _compile(ctx, model, batch, input_visibility, output_visibility, target, calibration_path,
                             srs_path)
    proof = prove(compiled, data)
    try:
        proof.save(out_path)
    except OSError as e:
        raise ZkInputError(f"cannot write the proof to {out_path} ({e.strerror}): check the directory") from e
    emit(as_json, {"model_id": proof.model_id, "outputs": proof.outputs, "proof": str(out_path),
                   "prove_seconds": round(proof.prove_seconds, 3), "cache_hit": hit,
                   "instances": [hex(x) for x in proof.instances], "srs_unsafe": proof.srs_unsafe},
         lambda: "\n".join([f"outputs    {json.dumps([[round(v, 6) for v in row] for row in proof.outputs])}",
                            f"proof      {out_path} ({proof.prove_seconds:.1f} s, model {proof.model_id})",
                            f"srs        {_srs_note(compiled)}"]))


@zk.command("verify")
@click.argument("proof_path", type=click.Path(path_type=Path))
@click.option("--onchain", is_flag=True,
              help="Verify through the InferenceVerifier contract (registers the model first if needed).")
@account_option
@password_file_option
@json_option
@click.pass_context
@handle_errors
def verify_cmd(ctx: click.Context, proof_path: Path, onchain: bool, account: str | None,
               password_file: Path | None, as_json: bool) -> None:
    """Check a proof; exits 1 when it is invalid."""
    proof = InferenceProof.load(proof_path)
    compiled = find_compiled(proof.model_id, _cache_dir(ctx))
    valid = verify(proof, compiled)
    payload: dict[str, Any] = {"valid": valid, "model_id": proof.model_id, "onchain": onchain,
                               "srs_unsafe": proof.srs_unsafe}
    text = [f"{'valid' if valid else 'INVALID'} proof for model {proof.model_id}"]
    if valid and onchain:
        settings = settings_from(ctx)
        with deployed(settings) as (chain, deployment):
            signer = resolve_signer(settings, chain, account, password_file)
            client = InferenceClient.of(chain, deployment)
            client.register(signer, compiled)
            try:
                record = client.verify(signer, proof)
            except ContractRevert as e:
                if e.error_name != "AlreadyVerified":
                    raise
                payload.update(already_verified_block=int(e.error_args["atBlock"]))
                text.append(f"already verified on-chain in block {e.error_args['atBlock']}")
            else:
                payload.update(gas=record.gas_used, gas_per_inference=record.gas_per_inference,
                               inference_id=record.inference_id, block=record.block)
                text.append(f"verified on-chain in block {record.block}: {record.gas_used:,} gas "
                            f"({record.gas_per_inference:,} per inference, batch {record.batch_size})")
    emit(as_json, payload, lambda: "\n".join(text))
    if not payload["valid"]:
        raise SystemExit(1)
