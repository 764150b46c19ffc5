"""`tessera coprocessor` on the embedded chain: a node from a YAML config registers its model and bonds,
a request from the CLI is delivered by `run --once`, and `status` shows the output."""

from __future__ import annotations

import json
from pathlib import Path


def test_request_run_status(run, mlp_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "node.yaml"
    config.write_text(f"models:\n  - onnx: {mlp_path}\n    input_visibility: public\n    output_visibility: public\n"
                      "    register: true\nmin_fee: 0.001\nbond: 100\n")
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [[0.5, -0.25, 0.75, 0.1]]}))
    assert run("deploy")[0] == 0
    code, first = run("coprocessor", "run", "--config", str(config), "--once")
    assert code == 0, first
    code, req = run("coprocessor", "request", str(mlp_path), "--input", str(tmp_path / "input.json"),
                    "--input-visibility", "public", "--output-visibility", "public", "--mode", "none")
    assert code == 0, req
    assert req["escrow"]["unit"] == "tUSD" and req["gas_deposit"]["unit"] == "ETH" and int(req["escrow"]["base"]) > 0
    code, ran = run("coprocessor", "run", "--config", str(config), "--once")
    assert code == 0 and ran["sent"] == [[req["request_id"], 0]], ran
    code, status = run("coprocessor", "status", str(req["request_id"]))
    assert code == 0 and status["status"] == "completed" and len(status["result"]["output"]) == 3, status
    assert len(status["result"]["decoded"]) == 3  # field elements shown as the numbers they stand for

    code, err = run("coprocessor", "refund", str(req["request_id"]))
    assert code == 1 and "JobClosed" in err["error"]
    (tmp_path / "bad.yaml").write_text("models: []\n")
    code, err = run("coprocessor", "run", "--config", str(tmp_path / "bad.yaml"), "--once")
    assert code == 1 and err["type"] == "ConfigError" and "models" in err["error"]
