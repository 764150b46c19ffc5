"""`tessera subnet ...`: Yuma epochs and (with a deployed subnet) miner and validator nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import EpochInputError
from ..subnet.yuma import run_epoch
from .main import handle_errors, json_option
from .output import emit


@click.group()
def subnet() -> None:
    """Incentive network: Yuma consensus epochs, subnets, miners and validators."""


@subnet.command()
@click.option("--state", "state_path", type=click.Path(path_type=Path), required=True,
              help="Epoch state JSON: yuma_version, hyperparameters, inputs (see docs/subnet.md).")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None,
              help="Write the result here instead of stdout.")
@click.option("--epoch", "epoch_index", type=int, default=None,
              help="For a fixture file holding several epochs: run epochs[K].inputs.")
@json_option
@handle_errors
def epoch(state_path: Path, out_path: Path | None, epoch_index: int | None, as_json: bool) -> None:
    """Run one Yuma epoch exactly as Bittensor's chain does and print (or write) the result as JSON."""
    state = _load_state(state_path, epoch_index)
    result = run_epoch(state)
    text = json.dumps(result, separators=(",", ":"))
    if out_path is None:
        click.echo(text)
        return
    try:
        out_path.write_text(text + "\n")
    except OSError as e:
        raise EpochInputError(f"cannot write {out_path} ({e.strerror}): check the directory exists") from e
    n = len(result["stake_bits"])
    emit(as_json, {"ok": True, "out": str(out_path), "n": n, "yuma_version": result["yuma_version"]},
         f"epoch of {n} UIDs ({result['yuma_version']}) written to {out_path}")


def _load_state(path: Path, epoch_index: int | None) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise EpochInputError(f"cannot read the state file {path} ({e.strerror}): check the path") from e
    except json.JSONDecodeError as e:
        raise EpochInputError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}") from e
    if isinstance(data, dict) and "epochs" in data and "inputs" not in data:
        epochs = data["epochs"]
        if epoch_index is None:
            raise EpochInputError(
                f"{path} holds {len(epochs)} epochs: choose one with --epoch K (0..{len(epochs) - 1})")
        if not 0 <= epoch_index < len(epochs):
            raise EpochInputError(f"--epoch {epoch_index} is out of range: {path} holds epochs 0..{len(epochs) - 1}")
        return {"yuma_version": data.get("yuma_version"), "hyperparameters": data.get("hyperparameters"),
                "inputs": epochs[epoch_index]["inputs"]}
    if epoch_index is not None:
        raise EpochInputError(f"--epoch applies to fixture files with an epochs list; {path} is a single state")
    return data  # type: ignore[no-any-return]
