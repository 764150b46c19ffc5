"""Which chain and which token a payment is in, as the x402 wire format names them.

x402 names chains by CAIP-2 id (`eip155:1337`) and tokens by address plus their EIP-712 domain name and
version (`extra: {name, version}`). The SDK never reads the domain from the chain and trusts `extra`; a wrong
name is the classic opaque failure, so Tessera reads it from the token's EIP-5267 `eip712Domain()` (falling
back to `name()`/`version()` for tokens without it) instead of letting a user type it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..chain.base import Chain
from ..chain.contract import Contract
from ..errors import ContractRevert, PaymentError
from ..units import amount_json, units_text


def caip2(chain: Chain) -> str:
    return f"eip155:{chain.chain_id}"


@dataclass(frozen=True)
class PaymentAsset:
    """A token x402 can move with EIP-3009: its address, EIP-712 domain and display unit."""

    network: str
    address: str
    name: str
    version: str
    decimals: int
    symbol: str

    @classmethod
    def read(cls, chain: Chain, address: str) -> "PaymentAsset":
        token = Contract.at(chain, "DevStablecoin", address)
        try:
            _, name, version, chain_id, verifying, _, _ = token.call("eip712Domain")
            if int(chain_id) != chain.chain_id or verifying.lower() != token.address.lower():
                raise PaymentError(
                    f"token {address} reports the EIP-712 domain of chain {chain_id} at {verifying}: "
                    "it cannot sign payments here; use the deployment's stablecoin")
        except ContractRevert:
            try:
                name, version = token.call("name"), token.call("version")
            except ContractRevert as e:
                raise PaymentError(
                    f"token {address} has no EIP-712 domain (eip712Domain/version): x402 `exact` needs an "
                    "EIP-3009 token such as the deployment's stablecoin") from e
        return cls(caip2(chain), token.address, str(name), str(version), int(token.call("decimals")),
                   str(token.call("symbol")))

    def price(self, base_units: int) -> dict[str, Any]:
        """A route price in the SDK's atomic form (a dollar string cannot name a devnet token)."""
        return {"amount": str(base_units), "asset": self.address, "extra": {"name": self.name, "version": self.version}}

    def base(self, amount: Decimal) -> int:
        scaled = amount.scaleb(self.decimals)
        if scaled != scaled.to_integral_value():
            raise PaymentError(f"{amount} {self.symbol} has more than {self.decimals} decimal places")
        if scaled < 0:
            raise PaymentError(f"{amount} {self.symbol} is negative: amounts must be 0 or more")
        return int(scaled)

    def text(self, base_units: int) -> str:
        return f"{units_text(base_units, self.decimals)} {self.symbol}"

    def json(self, base_units: int) -> dict[str, str]:
        return amount_json(base_units, self.decimals, self.symbol)
