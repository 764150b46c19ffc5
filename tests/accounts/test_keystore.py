"""Encrypted keystore accounts and EIP-712 signing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_account import Account

from tessera.accounts.dev import dev_account, require_devnet
from tessera.accounts.keystore import Keystore
from tessera.accounts.typed_data import sign_typed_data, typed_data, typed_data_digest
from tessera.errors import KeystoreError, WrongPasswordError


def fast_keystore(path: Path) -> Keystore:
    return Keystore(path, iterations=2**4)  # weak scrypt, for test speed only


def test_new_list_load_roundtrip(tmp_path: Path) -> None:
    ks = fast_keystore(tmp_path / "ks")
    entry = ks.new("provider-1", "correct horse")
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    assert "correct horse" not in entry.path.read_text()
    assert [e.name for e in ks.list()] == ["provider-1"]
    assert ks.load("provider-1", "correct horse").address == entry.address


def test_wrong_password_is_a_clear_error(tmp_path: Path) -> None:
    ks = fast_keystore(tmp_path)
    ks.new("alice", "pw")
    with pytest.raises(WrongPasswordError, match="wrong password for account 'alice'"):
        ks.load("alice", "nope")


def test_bad_names_keys_and_duplicates(tmp_path: Path) -> None:
    ks = fast_keystore(tmp_path)
    with pytest.raises(KeystoreError, match="invalid account name"):
        ks.new("../evil", "pw")
    with pytest.raises(KeystoreError, match="64 hex"):
        ks.import_key("x", "0x1234", "pw")
    key = "0x" + "ab" * 32
    entry = ks.import_key("imported", key, "pw")
    assert entry.address == Account.from_key(key).address
    with pytest.raises(KeystoreError, match="already exists"):
        ks.import_key("imported", key, "pw")
    with pytest.raises(KeystoreError, match="empty password"):
        ks.new("y", "")
    with pytest.raises(KeystoreError, match="tessera account new"):
        ks.load("missing", "pw")


def test_dev_keys_refused_off_devnets() -> None:
    require_devnet(1337)
    require_devnet(31337)
    with pytest.raises(KeystoreError, match="--account"):
        require_devnet(1)


def test_typed_data_signature_recovers_signer() -> None:
    acct = dev_account(3)
    data = typed_data({"name": "Tessera", "version": "1", "chainId": 1337,
                       "verifyingContract": "0x" + "11" * 20},
                      {"Bid": [{"name": "order", "type": "uint256"}, {"name": "price", "type": "uint256"}]},
                      "Bid", {"order": 7, "price": 1500})
    sig = sign_typed_data(acct, data)
    digest = typed_data_digest(data)
    from eth_keys import keys

    recovered = keys.Signature(vrs=(sig.v - 27, int.from_bytes(sig.r, "big"), int.from_bytes(sig.s, "big")))
    assert recovered.recover_public_key_from_msg_hash(digest).to_checksum_address() == acct.address
