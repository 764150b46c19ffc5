"""The docs' flows walked as a user would: only `tessera` commands, each in its own process, from an empty data
dir, on a devnet (anvil with --block-time, so time moves without transactions)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import yaml
from cli_harness import User, user, wait_for  # noqa: F401  (user: the fixture)

from tessera.accounts.dev import dev_account
from tessera.demo.models import write_classifier

pytestmark = pytest.mark.anvil


def test_market_tenant_and_provider_flow(user: User, tmp_path: Path) -> None:
    """devnet up → deploy → fund → a provider node bids → the auction closes itself → `market accept --order`
    resends the manifest to the existing lease → the provider acknowledges (billing starts) → close, refund."""
    user.run("deploy")
    provider_key = tmp_path / "provider.key"
    provider_key.write_text(dev_account(1).key.hex())
    password = tmp_path / "pw"
    password.write_text("correct horse\n")
    prov = user.run("account", "import", "prov", "--key-file", str(provider_key), "--password-file", str(password))
    tenant = dev_account(0).address
    funded = user.run("devnet", "fund", tenant, "--stable", "50")
    assert funded["stable"]["decimal"] == "50.00"
    port = 18700 + os.getpid() % 1000
    (tmp_path / "provider.yaml").write_text(yaml.safe_dump({
        "endpoint": f"http://127.0.0.1:{port}", "listen": {"host": "127.0.0.1", "port": port}, "region": "eu",
        "capacity": {"cpu": 4, "memory": "8Gi", "storage": "10Gi"}, "prices": {"cpu": 0.2, "memory_gb": 0.01},
        "bond": 10}))
    write_classifier(tmp_path / "model.onnx")
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({
        "name": "clf", "resources": {"cpu": 1, "memory": "1Gi", "storage": "1Gi"}, "requirements": {"region": "eu"},
        "max_price_per_hour": "1.00", "deposit": "5", "bid_window": 5,
        "workload": {"kind": "onnx", "model": "model.onnx"}}))
    node = user.start("provider", "run", "--config", str(tmp_path / "provider.yaml"), "--account", "prov",
                      "--password-file", str(password), "--interval", "0.5", "--json", log=tmp_path / "provider.log")
    try:
        wait_for(lambda: "\"event\": \"start\"" in (tmp_path / "provider.log").read_text(), 90, "the provider to start")
        order = user.run("market", "deploy", str(tmp_path / "spec.yaml"))
        assert order["deposit"] == {"base": "5000000", "decimal": "5.00", "unit": "tUSD"}
        oid = str(order["order_id"])
        wait_for(lambda: user.run("market", "status", oid)["state"] == "leased", 90,
                 "the provider to close the auction it won")
        assert user.run("market", "status", oid)["lease"]["state"] == "starting"  # nothing bills yet
        accepted = user.run("market", "accept", "--order", oid)  # the lease exists: this sends the manifest
        assert accepted["already_leased"] is True and accepted["manifest"]["status"] == "running"
        again = user.run("market", "accept", "--order", oid)  # idempotent
        assert again["manifest"]["already"] is True
        wait_for(lambda: user.run("market", "status", oid)["lease"]["state"] == "active", 90,
                 "the provider to acknowledge the running workload")
        lease_id = str(accepted["lease_id"])
        closed = user.run("market", "close", lease_id)
        assert closed["reason"] == "tenant" and int(closed["refund"]["base"]) > 4_900_000
        events = [json.loads(line)["event"] for line in (tmp_path / "provider.log").read_text().splitlines()
                  if line.startswith("{")]
        assert {"registered", "start", "bid", "acknowledged"} <= set(events), events
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=30)
    balance = user.run("account", "balance", prov["address"])
    assert float(balance["stable"]["decimal"]) > 0  # its bid deposit came back, plus what the lease paid


def test_restarted_devnet_state_is_one_line(user: User) -> None:
    """`devnet down; devnet up` keeps the chain id but not the chain: old manifests and orders are refused by name."""
    user.run("deploy")
    url = user.url
    user.url = None
    user.run("devnet", "down")
    user.url = user.run("devnet", "up", "--block-time", "1")["url"]
    assert user.url == url or user.url
    out = user.run("market", "status", "1", ok=False)
    assert out["ok"] is False and "the chain was reset" in out["error"] and "tessera deploy" in out["error"]
    user.run("deploy")  # the fix named in the message works
    out = user.run("market", "status", "1", ok=False)
    assert "does not exist" in out["error"]


def test_subnet_miner_and_validator_flow(user: User, tmp_path: Path) -> None:
    """create a subnet → register a miner and a staked validator → `subnet miner run` serves → `subnet validator
    run` scores, commits, reveals after the boundary, signs and finalizes an epoch → `validator status` shows it."""
    import numpy as np

    from tessera.demo.models import reference_probabilities

    user.run("deploy")
    password = tmp_path / "pw"
    password.write_text("pw\n")
    names = {}
    for name, index in (("miner", 2), ("val", 3)):
        key = tmp_path / f"{name}.key"
        key.write_text(dev_account(index).key.hex())
        names[name] = user.run("account", "import", name, "--key-file", str(key), "--password-file",
                               str(password))["address"]
    user.run("devnet", "fund", dev_account(0).address, "--tsr", "100")
    user.run("devnet", "fund", names["val"], "--tsr", "10")
    created = user.run("subnet", "create", "--tempo", "10", "--max-uids", "8", "--max-validators", "4")
    netuid = str(created["netuid"])
    miner_uid = user.run("subnet", "register", netuid, "--account", "miner", "--password-file", str(password))["uid"]
    staked = user.run("subnet", "register", netuid, "--stake", "10", "--account", "val", "--password-file",
                      str(password))
    assert staked["stake"]["decimal"] == "10.00"
    again = user.run("subnet", "register", netuid, "--stake", "10", "--account", "val", "--password-file",
                     str(password))
    assert again["staked_now"]["base"] == "0"  # idempotent: no second stake
    write_classifier(tmp_path / "model.onnx")
    port = 18800 + os.getpid() % 1000
    (tmp_path / "miners.yaml").write_text(yaml.safe_dump({miner_uid: f"http://127.0.0.1:{port}"}))
    rows = np.random.default_rng(0).normal(size=(8, 4)) + [5.8, 3.0, 3.8, 1.2]
    (tmp_path / "data.json").write_text(json.dumps({"inputs": rows.tolist(),
                                                    "labels": reference_probabilities(rows).argmax(axis=1).tolist()}))
    miner = user.start("subnet", "miner", "run", "--netuid", netuid, "--model", str(tmp_path / "model.onnx"),
                       "--port", str(port), "--account", "miner", "--password-file", str(password),
                       log=tmp_path / "miner.log")
    try:
        wait_for(lambda: "serving" in (tmp_path / "miner.log").read_text(), 90, "the miner to serve")
        validator = user.start("subnet", "validator", "run", "--netuid", netuid, "--miners",
                               str(tmp_path / "miners.yaml"), "--data", str(tmp_path / "data.json"), "--interval",
                               "0.5", "--passes", "240", "--account", "val", "--password-file", str(password),
                               "--json", log=tmp_path / "validator.log")
        try:
            def finalized() -> bool:
                lines = [json.loads(line) for line in (tmp_path / "validator.log").read_text().splitlines()
                         if line.startswith("{") and line.endswith("}")]
                return any(r["event"] == "pass" and r["message"].startswith("finalized epoch") for r in lines)

            wait_for(finalized, 240, "the validator to finalize an epoch")
        finally:
            validator.send_signal(signal.SIGTERM)
            validator.wait(timeout=30)
        status = user.run("subnet", "validator", "status", "--netuid", netuid, "--account", "val",
                          "--password-file", str(password))
        assert status["last_finalized_epoch"] >= 1
        shown = user.run("subnet", "show", netuid)
        assert [n["uid"] for n in shown["neurons"]] == [0, 1]
    finally:
        miner.send_signal(signal.SIGTERM)
        miner.wait(timeout=30)


def test_zk_and_coprocessor_flow(user: User, tmp_path: Path, mlp_path: Path, zk_cache: Path) -> None:
    """zk prove → zk verify --onchain from a fresh data dir (the embedded devnet deploys itself) → on the devnet:
    `coprocessor run` (a process; it registers the model and bonds from the devnet's deployer) → `coprocessor
    request` → `coprocessor status` shows the output, decoded."""
    user.env["TESSERA_ZK_CACHE"] = str(zk_cache)  # the compiled MLP the other zk tests share
    sample = {"input_data": [[0.5, -0.25, 0.75, 0.1]]}
    (tmp_path / "input.json").write_text(json.dumps(sample))
    url, user.url = user.url, None  # first on the embedded chain, from an empty data dir
    embedded = User(tmp_path / "fresh")
    embedded.env["TESSERA_ZK_CACHE"] = str(zk_cache)
    proved = embedded.run("zk", "prove", str(mlp_path), "--input", str(tmp_path / "input.json"), "--out",
                          str(tmp_path / "proof.json"), "--input-visibility", "public", "--output-visibility", "public")
    assert len(proved["outputs"][0]) == 3
    onchain = embedded.run("zk", "verify", str(tmp_path / "proof.json"), "--onchain")
    assert onchain["valid"] is True and onchain["onchain"] is True and onchain["gas"] > 0
    user.url = url
    user.run("deploy")
    port = 18900 + os.getpid() % 1000
    (tmp_path / "node.yaml").write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": port}, "min_fee": 0.001, "bond": 100,
        "models": [{"onnx": str(mlp_path), "input_visibility": "public", "output_visibility": "public",
                    "register": True}]}))
    node = user.start("coprocessor", "run", "--config", str(tmp_path / "node.yaml"), "--interval", "0.5", "--json",
                      log=tmp_path / "node.log")
    try:
        wait_for(lambda: "\"event\": \"start\"" in (tmp_path / "node.log").read_text(), 120, "the node to start")
        req = user.run("coprocessor", "request", str(mlp_path), "--input", str(tmp_path / "input.json"),
                       "--input-visibility", "public", "--output-visibility", "public", "--mode", "none",
                       "--fee", "0.001")
        rid = str(req["request_id"])
        status = wait_for(lambda: (s := user.run("coprocessor", "status", rid))["status"] == "completed" and s, 180,
                          "the node to deliver")
        decoded = status["result"]["decoded"]
        assert len(decoded) == 3 and all(isinstance(v, float) for v in decoded)
        assert all(isinstance(v, str) for v in status["result"]["output"])  # uint256 stay exact in --json
        events = {json.loads(line)["event"] for line in (tmp_path / "node.log").read_text().splitlines()
                  if line.startswith("{")}
        assert {"start", "computed", "sent"} <= events, events
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=30)
