"""Where a verifier gets what a solver serves: the committed leaves, any step's state and the task spec, over
HTTP from the solver nodes it knows. Everything is content-addressed and checked by the caller (leaves
against the committed root, a state against its leaf, a spec against its hash), so any mirror will do and a
lying or silent server only costs the verifier a replay from the seed."""

from __future__ import annotations

from typing import Any

import httpx
from eth_utils import keccak


class SolverSource:
    def __init__(self, urls: list[str], *, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.http = client or httpx.Client(timeout=timeout)

    def _get(self, path: str) -> list[httpx.Response]:
        out = []
        for url in self.urls:
            try:
                r = self.http.get(url + path)
            except httpx.HTTPError:
                continue
            if r.status_code == 200:
                out.append(r)
        return out

    def spec(self, spec_hash: bytes) -> bytes | None:
        for r in self._get(f"/specs/0x{spec_hash.hex()}"):
            if keccak(r.content) == spec_hash:
                return r.content
        return None

    def leaves(self, task_id: int, root_check: Any) -> list[bytes] | None:
        """The first served leaf list that `root_check(leaves)` accepts."""
        for r in self._get(f"/tasks/{task_id}/leaves"):
            try:
                leaves = [bytes.fromhex(h[2:]) for h in r.json()["leaves"]]
            except (ValueError, KeyError, TypeError):
                continue
            if root_check(leaves):
                return leaves
        return None

    def state(self, task_id: int, step: int) -> list[Any]:
        """Every served body for the state after `step` (the caller keeps the first that checks)."""
        bodies = []
        for r in self._get(f"/tasks/{task_id}/states/{step}"):
            try:
                bodies.append(r.json())
            except ValueError:
                continue
        return bodies


__all__ = ["SolverSource"]
