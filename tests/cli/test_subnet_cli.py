"""`tessera subnet epoch`: a state file in, the chain's epoch out, clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tessera.cli import cli

STATE = {
    "yuma_version": "yuma3",
    "hyperparameters": {"rao_emission": 1_000_000},
    "inputs": {
        "current_block": 100, "last_mechanism_step_block": 0, "last_update": [95, 95, 0, 0],
        "block_at_registration": [0, 0, 0, 0], "alpha_stake": [600, 400, 0, 0], "tao_stake": [0, 0, 0, 0],
        "validator_permit": [True, True, False, False],
        "weights_submitted": [[[2, 65535], [3, 30000]], [[2, 65535]], [], []],
        "bonds": [[], [], [], []], "commit_block": None,
    },
}


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_epoch_prints_json_to_stdout(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(STATE))
    result = invoke("subnet", "epoch", "--state", str(path))
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["new_validator_permits"] == [True, True, False, False]
    assert sum(out["server_emission"]) + sum(out["validator_emission"]) <= 1_000_000
    assert out["incentive_u16"][2] > out["incentive_u16"][3] > 0


def test_epoch_writes_out_file_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(STATE))
    out = tmp_path / "out.json"
    result = invoke("subnet", "epoch", "--state", str(path), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n"] == 4
    assert json.loads(out.read_text())["yuma_version"] == "yuma3"


def test_fixture_files_need_an_epoch_index(tmp_path: Path) -> None:
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps({"yuma_version": "yuma3", "hyperparameters": STATE["hyperparameters"],
                                "epochs": [{"inputs": STATE["inputs"]}]}))
    refused = invoke("subnet", "epoch", "--state", str(path))
    assert refused.exit_code == 1 and "--epoch K" in refused.output
    assert invoke("subnet", "epoch", "--state", str(path), "--epoch", "0").exit_code == 0


def test_bad_state_files_name_the_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = invoke("subnet", "epoch", "--state", str(broken), "--json")
    assert result.exit_code == 1 and "not valid JSON" in json.loads(result.output)["error"]
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**STATE, "yuma_version": "yuma9"}))
    result = invoke("subnet", "epoch", "--state", str(wrong))
    assert result.exit_code == 1 and "yuma_version" in result.output
    missing = invoke("subnet", "epoch", "--state", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and "cannot read" in missing.output
