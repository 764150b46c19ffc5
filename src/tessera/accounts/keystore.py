"""Encrypted keystore files (Ethereum keystore v3, scrypt by default).

One file per account, ``<dir>/<name>.json``, readable only by its owner. Keys are
decrypted in memory on demand and never written in the clear.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from ..errors import KeystoreError, WrongPasswordError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class KeystoreEntry:
    name: str
    address: str
    path: Path


class Keystore:
    def __init__(self, directory: Path, *, kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
                 iterations: int | None = None) -> None:
        self.directory = directory
        self._kdf = kdf
        self._iterations = iterations  # lower only in tests: it weakens the encryption

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise KeystoreError(
                f"invalid account name {name!r}: use letters, digits, '.', '_' or '-' (at most 64), e.g. 'provider-1'"
            )
        return self.directory / f"{name}.json"

    def _write(self, name: str, private_key: Any, password: str) -> KeystoreEntry:
        if not password:
            raise KeystoreError("an empty password would leave the key unprotected: choose a password")
        path = self._path(name)
        if path.exists():
            raise KeystoreError(f"account {name!r} already exists at {path}: choose another name")
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        encrypted = Account.encrypt(private_key, password, kdf=self._kdf, iterations=self._iterations)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(encrypted, f)
        return KeystoreEntry(name, to_checksum_address(encrypted["address"]), path)

    def new(self, name: str, password: str) -> KeystoreEntry:
        return self._write(name, Account.create().key, password)

    def import_key(self, name: str, private_key: str, password: str) -> KeystoreEntry:
        try:
            Account.from_key(private_key)
        except (ValueError, TypeError) as e:
            raise KeystoreError(
                "not a valid private key: expected 32 bytes as 64 hex characters (0x prefix optional)"
            ) from e
        return self._write(name, private_key, password)

    def list(self) -> list[KeystoreEntry]:
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                address = to_checksum_address(json.loads(path.read_text())["address"])
            except (ValueError, KeyError, TypeError):
                continue  # not a keystore file: ignored rather than fatal
            entries.append(KeystoreEntry(path.stem, address, path))
        return entries

    def load(self, name: str, password: str) -> LocalAccount:
        path = self._path(name)
        if not path.exists():
            known = ", ".join(e.name for e in self.list()) or "none"
            raise KeystoreError(
                f"no account named {name!r} in {self.directory} (known: {known}); "
                "create one with `tessera account new NAME`"
            )
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except ValueError as e:
            raise KeystoreError(f"{path} is not a keystore file ({e}): restore it from a backup") from e
        try:
            key = Account.decrypt(data, password)
        except ValueError as e:
            if "MAC mismatch" in str(e):
                raise WrongPasswordError(
                    f"wrong password for account {name!r} ({path}): try again, or use --password-file"
                ) from None
            raise KeystoreError(f"{path} is not a valid keystore file ({e}): restore it from a backup") from e
        return Account.from_key(key)
