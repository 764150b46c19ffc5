"""The `tessera` CLI, through click's runner (in-process) and one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tessera.chain import artifacts
from tessera.cli import cli


def run(*args: str, home: Path, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--data-dir", str(home), *args], input=input, catch_exceptions=False)


def test_help_lists_the_commands(tmp_path: Path) -> None:
    out = run("--help", home=tmp_path).output
    for command in ("demo", "deploy", "account", "devnet", "chain", "contracts"):
        assert command in out


def test_deploy_json_prints_the_manifest_and_is_idempotent(tmp_path: Path) -> None:
    first = run("deploy", "--json", home=tmp_path)
    assert first.exit_code == 0, first.output
    manifest = json.loads(first.output)
    assert manifest["chain_id"] == 1337 and manifest["changed"] is True
    assert set(manifest["contracts"]) >= {"TesseraToken", "EmissionSchedule", "Registry", "DevStablecoin"}
    # a second process sees the same persisted chain, and nothing changes
    second = json.loads(run("deploy", "--json", home=tmp_path).output)
    assert second["changed"] is False and second["contracts"] == manifest["contracts"]
    info = json.loads(run("chain", "info", "--json", home=tmp_path).output)
    assert info["head"] == manifest["block"]


def test_bad_rpc_url_is_one_line(tmp_path: Path) -> None:
    result = run("--rpc-url", "http://127.0.0.1:9", "deploy", home=tmp_path)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the RPC node")
    assert "tessera devnet up" in lines[0]
    as_json = json.loads(run("--rpc-url", "nonsense", "chain", "info", "--json", home=tmp_path).output)
    assert as_json["ok"] is False and as_json["type"] == "ChainConnectionError"


def test_accounts_and_wrong_password(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    created = json.loads(run("account", "new", "ops", "--password-file", str(pw), "--json", home=tmp_path).output)
    listed = json.loads(run("account", "list", "--json", home=tmp_path).output)
    assert listed["accounts"][0]["address"] == created["address"]
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    result = run("deploy", "--account", "ops", "--password-file", str(wrong), home=tmp_path)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "wrong password for account 'ops'" in result.output
    unfunded = run("deploy", "--account", "ops", "--password-file", str(pw), home=tmp_path)
    assert unfunded.exit_code == 1 and "insufficient" in unfunded.output.lower(), unfunded.output
    from tessera.chain import EmbeddedChain

    with EmbeddedChain(tmp_path / "chain" / "embedded.sqlite") as chain:
        chain.set_balance(created["address"], 10**20)
    ok = run("deploy", "--account", "ops", "--password-file", str(pw), "--json", home=tmp_path)
    assert json.loads(ok.output)["deployer"] == created["address"]


def test_stale_artifact_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = tmp_path / "contracts"
    import shutil

    shutil.copytree(artifacts.SOURCE_DIR, sources)
    (sources / "Registry.sol").write_text((sources / "Registry.sol").read_text() + "\n// edited\n")
    monkeypatch.setattr(artifacts, "SOURCE_DIR", sources)
    artifacts.load_artifact.cache_clear()
    try:
        result = run("--ephemeral", "deploy", home=tmp_path)
        check = run("contracts", "check", home=tmp_path)
    finally:
        artifacts.load_artifact.cache_clear()
    for r in (result, check):
        assert r.exit_code == 1
        line = r.output.strip()
        assert "\n" not in line
        assert "artifact Registry is stale" in line and "make contracts" in line


def test_installed_entry_point_runs_the_demo_json(tmp_path: Path) -> None:
    env = {**os.environ, "TESSERA_HOME": str(tmp_path)}  # its zk cache too: compiled fresh, as on a new machine
    proc = subprocess.run([sys.executable, "-m", "tessera", "demo", "--json"], capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    names = [s["name"] for s in report["stages"]]
    assert names[:3] == ["chain", "deploy", "emission"]
    assert all(s["ok"] for s in report["stages"])
    emission = next(s for s in report["stages"] if s["name"] == "emission")
    assert emission["figures"]["supply_matches_model"] is True
    market = next(s for s in report["stages"] if s["name"] == "market")
    f = market["figures"]
    assert f["balances_conserved"] is True and f["winning_price"] == f["lowest_bid"] > 0
    assert f["gas_lease_lifecycle"] > 0 and f["outputs_match_reference"] is True
    subnet = next(s for s in report["stages"] if s["name"] == "subnet")
    f = subnet["figures"]
    assert f["epochs"] == 2 and 2 / 3 < f["signed_stake_fraction"] <= 1
    assert f["copier_dividend_share"] == 0 and f["good_miner_share"] > 0
    training = next(s for s in report["stages"] if s["name"] == "training")
    f = training["figures"]
    assert f["honest_accepted"] and f["cheater_slashed"] and f["forced_error_caught"]
    zk = next(s for s in report["stages"] if s["name"] == "zkml")
    f = zk["figures"]
    assert f["batch_size"] == 32 and f["tampered_rejected"] is True and f["cache_hit"] is False
    assert 0 < f["gas_per_inference"] <= 50_000 and f["srs_unsafe"] is True
    assert f["labels_agree"] == 32 and f["max_abs_error"] < 0.01
    cp = next(s for s in report["stages"] if s["name"] == "coprocessor")
    f = cp["figures"]
    assert f["admitted"] == 1 and f["rejected"] == 1 and f["proofs_verified"] == 2
    # two proposals, each committed then revealed: at most 2 + 2 blocks after the first proposal
    assert 1 <= f["latency_blocks"] <= 5 and 0 < f["gas_per_delivery"] < 2_000_000
    assert f["node_fees_earned"] == 2 * f["fee"] and f["gas_reimbursed_wei"] > 0
    pay = next(s for s in report["stages"] if s["name"] == "payments")
    f = pay["figures"]
    assert (f["exact_calls"], f["channel_calls"], f["onchain_settlements"], f["double_payments"]) == (1, 200, 2, 0)
    assert 0 < f["gas_per_channel_call"] < f["gas_per_exact_call"] // 20
    agents = next(s for s in report["stages"] if s["name"] == "agents")
    f = agents["figures"]
    assert (f["paid_calls"], f["onchain_settlements"], f["jobs_paid"], f["signer_approved"], f["signer_rejected"]) \
        == (200, 1, 1, 1, 1)


def test_help_and_version_import_nothing_heavy() -> None:
    """Start-up speed is measured in bench/cli_startup.py; this guards its cause: `--help` must not import the
    chain, crypto or ML stacks (they cost seconds)."""
    probe = ("import sys\nfrom tessera.cli.main import main\n"
             "for argv in (['--help'], ['--version']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "heavy = [m for m in ('eth_account', 'eth', 'web3', 'torch', 'onnxruntime', 'ezkl', 'numpy', 'fastapi')"
             " if m in sys.modules]\nprint('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_demo_stage_choices_match_the_runner() -> None:
    """`demo --stage` lists the stages without importing the runner (start-up); they must stay the runner's."""
    from tessera.cli.demo_cmds import STAGES
    from tessera.demo import stage_names

    assert tuple(stage_names()) == STAGES
