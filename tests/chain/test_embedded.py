"""The embedded backend: persistence, locking, snapshots, time and bad transactions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.accounts.dev import dev_account
from tessera.chain import Chain, Contract, EmbeddedChain, send_transaction
from tessera.errors import ChainError, ChainInUseError, TransactionError

A, B = dev_account(0), dev_account(1)


def test_state_persists_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with EmbeddedChain(path) as chain:
        send_transaction(chain, A, to=B.address, value=123)
        registry, _ = Contract.deploy(chain, A, "Registry", A.address)
        head, genesis = chain.block_number(), chain.get_block(0).hash
        balance = chain.get_balance(B.address)
    with EmbeddedChain(path) as chain:
        assert chain.block_number() == head
        assert chain.get_block(0).hash == genesis
        assert chain.get_balance(B.address) == balance
        assert Contract.at(chain, "Registry", registry.address).call("owner") == A.address
        assert chain.get_logs(from_block=0, to_block=head, address=registry.address)


def test_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with EmbeddedChain(path):
        with pytest.raises(ChainInUseError, match="tessera devnet up"):
            EmbeddedChain(path)


def test_snapshot_revert_restores_state_and_logs() -> None:
    with EmbeddedChain() as chain:
        registry, _ = Contract.deploy(chain, A, "Registry", A.address)
        snap = chain.snapshot()
        head = chain.block_number()
        receipt = registry.transact(A, "set", b"x".ljust(32, b"\0"), B.address)
        assert registry.get_events("EntrySet")
        chain.revert(snap)
        assert chain.block_number() == head
        assert registry.get_events("EntrySet") == []
        assert chain.get_receipt(receipt.transaction_hash) is None
        with pytest.raises(ChainError, match="unknown snapshot"):
            chain.revert(snap)
        # the chain goes on from the restored head
        registry.transact(A, "set", b"y".ljust(32, b"\0"), B.address)
        assert chain.block_number() == head + 1


def test_increase_time_moves_block_timestamps() -> None:
    with EmbeddedChain() as chain:
        before = chain.get_block().timestamp
        chain.increase_time(3600)
        chain.mine()
        assert chain.get_block().timestamp >= before + 3600
        with pytest.raises(ChainError, match="backwards"):
            chain.increase_time(-1)


def test_set_balance_and_receipts() -> None:
    with EmbeddedChain() as chain:
        chain.set_balance(B.address, 5)
        assert chain.get_balance(B.address) == 5
        r = send_transaction(chain, A, to=B.address, value=7)
        assert r.ok and r.gas_used == 21000 and r.sender == A.address and r.to == B.address
        assert chain.get_balance(B.address) == 12


def test_malformed_and_foreign_transactions_rejected() -> None:
    with EmbeddedChain() as chain:
        head = chain.block_number()
        with pytest.raises(TransactionError, match="malformed"):
            chain.send_raw_transaction(b"\x02\xff\x00garbage")
        signed = A.sign_transaction({"type": 2, "chainId": 1, "nonce": 0, "gas": 21000, "to": B.address,
                                     "value": 1, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1})
        with pytest.raises(TransactionError, match="chain 1"):
            chain.send_raw_transaction(bytes(signed.raw_transaction))
        stale = A.sign_transaction({"type": 2, "chainId": 1337, "nonce": 5, "gas": 21000, "to": B.address,
                                    "value": 1, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1})
        with pytest.raises(TransactionError, match="rejected"):
            chain.send_raw_transaction(bytes(stale.raw_transaction))
        assert chain.block_number() == head  # nothing half-applied


def test_chain_reads_agree_across_backends(chain: Chain) -> None:
    head = chain.get_block()
    assert head.gas_limit >= 30_000_000
    assert chain.get_balance(A.address) > 0
    assert chain.get_nonce(B.address) >= 0
    assert chain.is_devnet
    registry, receipt = Contract.deploy(chain, A, "Registry", A.address)
    assert chain.get_code(registry.address)
    assert chain.get_storage_at(registry.address, 0) == int(A.address, 16)  # slot 0: owner
    assert receipt.contract_address == registry.address
