"""The JSON-RPC backend's error handling, with a fake transport at the HTTP boundary."""

from __future__ import annotations

import json

import httpx
import pytest

from tessera.chain import RpcChain
from tessera.chain.base import CallRequest
from tessera.errors import ChainConnectionError, ContractRevert, TransactionError, UnsupportedByBackend


def fake_node(handler):  # type: ignore[no-untyped-def]
    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        result = handler(body["method"], body["params"])
        if isinstance(result, Exception):
            raise result
        if isinstance(result, dict) and "error" in result:
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], **result})
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})

    return httpx.MockTransport(respond)


def test_bad_url_is_refused_with_a_fix() -> None:
    with pytest.raises(ChainConnectionError, match="http"):
        RpcChain("localhost:8545")


def test_unreachable_node_retries_then_explains() -> None:
    sleeps: list[float] = []
    attempts = []

    def handler(method, params):  # type: ignore[no-untyped-def]
        attempts.append(method)
        return httpx.ConnectError("connection refused")

    chain = RpcChain("http://127.0.0.1:9", transport=fake_node(handler), retries=3, sleep=sleeps.append)
    with pytest.raises(ChainConnectionError, match="tessera devnet up"):
        chain.block_number()
    assert len(attempts) == 4
    assert sleeps == [0.2, 0.4, 0.8]  # exponential backoff


def test_cheat_methods_on_a_real_network_are_refused() -> None:
    def handler(method, params):  # type: ignore[no-untyped-def]
        if method == "eth_chainId":
            return "0x1"
        return {"error": {"code": -32601, "message": f"the method {method} does not exist/is not available"}}

    chain = RpcChain("http://node.invalid", transport=fake_node(handler))
    assert not chain.is_devnet
    with pytest.raises(UnsupportedByBackend, match="anvil_setBalance"):
        chain.set_balance("0x" + "11" * 20, 1)
    with pytest.raises(UnsupportedByBackend):
        chain.snapshot()


def test_revert_data_is_preserved_and_other_errors_translated() -> None:
    def handler(method, params):  # type: ignore[no-untyped-def]
        if method == "eth_call":
            return {"error": {"code": 3, "message": "execution reverted", "data": "0xdeadbeef"}}
        return {"error": {"code": -32000, "message": "nonce too low"}}

    chain = RpcChain("http://node.invalid", transport=fake_node(handler))
    with pytest.raises(ContractRevert) as err:
        chain.call(CallRequest(to="0x" + "11" * 20))
    assert err.value.data == bytes.fromhex("deadbeef")
    with pytest.raises(TransactionError, match="nonce too low"):
        chain.send_raw_transaction(b"\x01")


def test_missing_data_is_not_mistaken_for_a_missing_method() -> None:
    def handler(method, params):  # type: ignore[no-untyped-def]
        return {"error": {"code": -32000, "message": "header for hash 0xabc does not exist"}}

    chain = RpcChain("http://node.invalid", transport=fake_node(handler))
    with pytest.raises(TransactionError, match="does not exist") as err:
        chain.get_block(5)
    assert not isinstance(err.value, UnsupportedByBackend)
