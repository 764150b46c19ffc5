"""The tenant CLI on the embedded chain: a spec becomes an order; status explains why nobody bids."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tessera.accounts.dev import dev_account
from tessera.chain import EmbeddedChain
from tessera.cli.main import cli
from tessera.config import load_settings
from tessera.demo.models import write_classifier
from tessera.market import MarketClient, Prices, Resources
from tessera.protocol.deploy import Deployment, manifest_path, read_manifest
from tessera.protocol.faucet import fund_stablecoin, fund_tsr


def run(home: Path, *args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, ["--data-dir", str(home), *args, "--json"], catch_exceptions=False)
    return json.loads(result.output)  # type: ignore[no-any-return]


SPEC = """
name: clf
resources: {cpu: 1, memory: 1Gi, storage: 1Gi}
requirements: {region: %s}
max_price_per_hour: %s
deposit: 2
bid_window: 60
workload: {kind: onnx, model: model.onnx}
"""


def test_status_explains_missing_bids(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "deploy")
    settings = load_settings(home)
    with EmbeddedChain(settings.embedded_chain_path) as chain:
        manifest = read_manifest(manifest_path(settings.deployments_dir, chain.chain_id))
        assert manifest is not None
        d = Deployment.from_manifest(chain, manifest)
        owner, p = dev_account(0), dev_account(1)
        fund_stablecoin(chain, d, owner, owner.address, 100 * 10**6)
        fund_tsr(chain, d, owner, p.address, 10 * 10**18)
        MarketClient(chain, d).register_provider(
            p, endpoint="http://p.test", region="eu", gpu_model="", capacity=Resources(4000, 8192, 100),
            prices=Prices(per_cpu=2_000_000, per_gb_memory=100_000, per_gb_storage=0), bond=10 * 10**18)
    write_classifier(tmp_path / "model.onnx")
    (tmp_path / "us.yaml").write_text(SPEC % ("us", "1.50"))
    (tmp_path / "eu.yaml").write_text(SPEC % ("eu", "1.50"))
    order = run(home, "market", "deploy", str(tmp_path / "us.yaml"))
    status = run(home, "market", "status", str(order["order_id"]))
    assert status["explanation"] == ["no provider has region=us: providers offer regions eu and gpus -"]
    order = run(home, "market", "deploy", str(tmp_path / "eu.yaml"))
    status = run(home, "market", "status", str(order["order_id"]))
    assert "cheapest matching ask is 2.10/h" in status["explanation"][0]
    assert "above your max 1.50/h" in status["explanation"][0]


def test_malformed_spec_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("resources: {cpu: lots}\nmax_price_per_hour: 1\ndeposit: 1\n"
                                       "workload: {kind: onnx, model: missing.onnx}\n")
    home = tmp_path / "home"
    run(home, "deploy")
    out = run(home, "market", "deploy", str(tmp_path / "bad.yaml"))
    assert out["ok"] is False and "resources.cpu" in out["error"] and "not a number" in out["error"]


def test_accept_with_an_unreachable_provider_can_be_retried_and_bills_nothing(tmp_path: Path) -> None:
    """The provider wins but its endpoint does not answer: the lease exists, nothing bills (it was never
    acknowledged), the error names the retry, the retry does not revert, and `cancel`/`close` give it all back."""
    home = tmp_path / "home"
    run(home, "deploy")
    settings = load_settings(home)
    write_classifier(tmp_path / "model.onnx")
    (tmp_path / "eu.yaml").write_text(SPEC % ("eu", "1.50"))
    tenant = dev_account(0)
    run(home, "devnet", "fund", tenant.address, "--stable", "20")
    order = run(home, "market", "deploy", str(tmp_path / "eu.yaml"))
    spare = run(home, "market", "deploy", str(tmp_path / "eu.yaml"))
    with EmbeddedChain(settings.embedded_chain_path) as chain:
        manifest = read_manifest(manifest_path(settings.deployments_dir, chain.chain_id))
        assert manifest is not None
        d = Deployment.from_manifest(chain, manifest)
        p = dev_account(1)
        fund_stablecoin(chain, d, tenant, p.address, 10 * 10**6)
        fund_tsr(chain, d, tenant, p.address, 10 * 10**18)
        client = MarketClient(chain, d)
        client.register_provider(p, endpoint="http://127.0.0.1:9", region="eu", gpu_model="",
                                 capacity=Resources(4000, 8192, 100), prices=Prices(100_000, 0, 0), bond=10 * 10**18)
        bid_id, _ = client.place_bid(p, order["order_id"], 500_000)
    bids = run(home, "market", "bids", str(order["order_id"]))
    assert bids["bids"][0]["price_per_hour"] == {"base": "500000", "decimal": "0.50", "unit": "tUSD"}
    first = run(home, "market", "accept", str(bid_id))
    assert first["ok"] is False and "nothing bills" in first["error"]
    assert f"market accept --order {order['order_id']}" in first["error"]
    retry = run(home, "market", "accept", "--order", str(order["order_id"]))
    assert retry["ok"] is False and "OrderNotOpen" not in retry["error"]  # the retry reaches the provider again
    status = run(home, "market", "status", str(order["order_id"]))
    assert status["lease"]["state"] == "starting" and status["lease"]["escrow"]["decimal"] == "2.00"
    closed = run(home, "market", "close", str(status["lease"]["lease_id"]))
    assert closed["refund"]["decimal"] == "2.00"  # all of it: the workload never started
    cancelled = run(home, "market", "cancel", str(spare["order_id"]))
    assert cancelled["refund"] == {"base": "2000000", "decimal": "2.00", "unit": "tUSD"}
    again = run(home, "market", "cancel", str(spare["order_id"]))
    assert again["ok"] is False and "cancelled already" in again["error"]
