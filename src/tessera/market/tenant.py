"""The tenant's side of a lease: send the signed manifest, call the service, read logs."""

from __future__ import annotations

import time
from typing import Any, Callable

import httpx

from ..errors import ManifestError, TesseraError, WorkloadError
from .auth import logs_message, manifest_message, sign
from .client import MarketClient
from .spec import Manifest

TransportFor = Callable[[str], httpx.AsyncBaseTransport | None]


class ProviderHttpError(TesseraError):
    """The provider's endpoint refused or failed a request."""


class TenantSession:
    """`account` must be able to sign messages (a LocalAccount from a keystore or a dev key)."""

    def __init__(self, client: MarketClient, account: Any, *, transport_for: TransportFor | None = None,
                 timeout: float = 60.0) -> None:
        self.client = client
        self.account = account
        self.transport_for = transport_for or (lambda _endpoint: None)
        self.timeout = timeout

    def _http(self, endpoint: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=endpoint, transport=self.transport_for(endpoint), timeout=self.timeout)

    def endpoint(self, lease_id: int) -> str:
        return self.client.provider(self.client.lease(lease_id).provider).endpoint

    async def _request(self, method: str, lease_id: int, path: str, **kw: Any) -> dict[str, Any]:
        endpoint = self.endpoint(lease_id)
        try:
            async with self._http(endpoint) as http:
                resp = await http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ProviderHttpError(f"provider endpoint {endpoint} unreachable ({e}): check `tessera market status`"
                                    ) from e
        try:
            body: dict[str, Any] = resp.json()
        except ValueError:
            raise ProviderHttpError(f"{endpoint}{path} answered {resp.status_code} with non-JSON") from None
        if resp.status_code == 403:
            raise ManifestError(body.get("error", "refused"))
        if resp.status_code == 409:
            raise WorkloadError(body.get("error", "workload unavailable"))
        if resp.status_code != 200:
            raise ProviderHttpError(f"{endpoint}{path}: {resp.status_code} {body.get('error', body)}")
        return body

    async def send_manifest(self, lease_id: int, manifest: Manifest) -> dict[str, Any]:
        message = manifest_message(self.client.chain.chain_id, self.client.market.address, lease_id, manifest.hash)
        return await self._request("POST", lease_id, f"/leases/{lease_id}/manifest", content=manifest.canonical,
                                   headers={"X-Tessera-Signature": sign(self.account, message)})

    async def infer(self, lease_id: int, inputs: dict[str, Any]) -> dict[str, Any]:
        return await self._request("POST", lease_id, f"/leases/{lease_id}/infer", json={"inputs": inputs})

    async def zk_infer(self, lease_id: int, escrow: Any, account_id: int, nonce: int, compiled: Any,
                       data: dict[str, Any]) -> dict[str, Any]:
        """A proved inference (`proof: zk` leases): sign the request for this input's commitment, get the
        outputs with their proof, and check the proof locally before trusting the outputs."""
        from ..errors import ProofError
        from ..zkml import InferenceProof, input_commitment, verify

        commitment = input_commitment(compiled, data)
        signature = escrow.sign_request(self.account, account_id, nonce, commitment)
        body = await self._request("POST", lease_id, f"/leases/{lease_id}/zk",
                                   json={"account": account_id, "nonce": nonce, "input_data": data["input_data"],
                                         "tenant_signature": "0x" + signature.hex()})
        proof = InferenceProof.from_json(body["proof"])
        if proof.input_commitment != commitment or not verify(proof, compiled):
            raise ProofError(f"lease {lease_id}: the provider's proof for request {nonce} does not verify "
                             "for this input: settle it on-chain to slash the provider")
        return {**body, "proof": proof}

    async def logs(self, lease_id: int, tail: int = 200) -> str:
        ts = int(time.time())
        sig = sign(self.account, logs_message(self.client.chain.chain_id, self.client.market.address, lease_id, ts))
        body = await self._request("GET", lease_id, f"/leases/{lease_id}/logs",
                                   params={"ts": ts, "sig": sig, "tail": tail})
        return str(body["log"])
