"""`tessera zk` end to end on a model it has never seen: prove (compiling on the way), compile again (cache
hit), verify locally and on-chain, and refuse a tampered proof."""

from __future__ import annotations

import json
from pathlib import Path

from zk_fixtures import mlp


def test_prove_compile_verify_onchain(run, zk_shared: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = mlp(zk_shared / "cli.onnx", seed=11)
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [[0.3, -0.1, 0.8, -0.5]]}))
    code, proved = run("zk", "prove", str(model), "--input", str(tmp_path / "input.json"),
                       "--out", str(tmp_path / "proof.json"))
    assert code == 0, proved
    assert len(proved["outputs"][0]) == 3 and proved["srs_unsafe"] is True

    code, compiled = run("zk", "compile", str(model))
    assert code == 0 and compiled["cache_hit"] is True and compiled["model_id"] == proved["model_id"]
    assert compiled["srs"]["unsafe_for_production"] is True

    code, checked = run("zk", "verify", str(tmp_path / "proof.json"))
    assert code == 0 and checked["valid"] is True

    code, deployed = run("deploy")
    assert code == 0, deployed
    code, onchain = run("zk", "verify", str(tmp_path / "proof.json"), "--onchain")
    assert code == 0 and onchain["valid"] is True and onchain["gas"] > 0, onchain

    tampered = json.loads((tmp_path / "proof.json").read_text())
    tampered["outputs"][0][0] += 1.0
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    code, refused = run("zk", "verify", str(tmp_path / "tampered.json"))
    assert code == 1 and refused["valid"] is False


def test_errors_are_one_json_line_naming_the_fix(run, tmp_path: Path, mlp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [[1.0, 2.0]]}))
    code, err = run("zk", "prove", str(mlp_path), "--input", str(tmp_path / "input.json"),
                    "--out", str(tmp_path / "p.json"), "--batch", "2")
    assert code == 1 and err["type"] == "ZkInputError" and "expects shape [2, 4]" in err["error"]
    code, err = run("zk", "verify", str(tmp_path / "missing.json"))
    assert code == 1 and err["type"] == "ProofError"
