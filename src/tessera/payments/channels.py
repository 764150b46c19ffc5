"""Payment channels on chain, for people and scripts: open, top up, inspect, close.

The same `BatchSettlement` contract the SDK's `batch-settlement` scheme pays over. A channel opened here has
the config the SDK client derives for the same payer and payee (payer as its own voucher signer, the payee as
receiver authorizer, the minimum withdraw delay, the SDK's default salt), so the SDK's client pays over it.
Deposits use the ERC-3009 collector: the payer signs ReceiveWithAuthorization and the deposit is one
transaction. Closing is the payer's timed withdrawal: the first `close` starts it, the payee's node answers
with its best voucher during the delay, and `close` after the delay pays the rest back.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from x402.mechanisms.evm.batch_settlement.client.config import DEFAULT_SALT
from x402.mechanisms.evm.batch_settlement.constants import (
    BATCH_SETTLEMENT_ADDRESS,
    ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
    MIN_WITHDRAW_DELAY,
)

from ..accounts.typed_data import contract_domain, sign_typed_data, transfer_authorization_data
from ..chain.base import Chain, Receipt
from ..chain.contract import Contract
from ..errors import PaymentError
from .network import PaymentAsset

VALIDITY = 3600  # seconds a deposit authorization stays valid


@dataclass(frozen=True)
class ChannelView:
    id: str
    payer: str
    payee: str
    token: str
    balance: int
    claimed: int
    withdraw_amount: int
    withdraw_started: int
    withdraw_delay: int

    @property
    def unclaimed(self) -> int:
        return self.balance - self.claimed

    @property
    def finalize_after(self) -> int | None:
        return self.withdraw_started + self.withdraw_delay if self.withdraw_started else None

    def to_json(self, asset: PaymentAsset) -> dict[str, Any]:
        return {"id": self.id, "payer": self.payer, "payee": self.payee, "token": self.token,
                "balance": asset.json(self.balance), "claimed": asset.json(self.claimed),
                "unclaimed": asset.json(self.unclaimed), "closing": self.withdraw_started != 0,
                "finalize_after": self.finalize_after}


class ChannelClient:
    """One payer's channels. Configs are remembered in `book` (JSON) so a channel id is enough later."""

    def __init__(self, chain: Chain, asset: PaymentAsset, account: LocalAccount, book: Path) -> None:
        self.chain = chain
        self.asset = asset
        self.account = account
        self.book = book
        self.contract = Contract.at(chain, "BatchSettlement", BATCH_SETTLEMENT_ADDRESS)
        if not chain.get_code(BATCH_SETTLEMENT_ADDRESS):
            raise PaymentError(f"no BatchSettlement contract at {BATCH_SETTLEMENT_ADDRESS} on chain {chain.chain_id}: "
                               "run `tessera deploy` on a devnet (it places the channel contracts)")

    # -- configs -----------------------------------------------------------------------
    def config(self, payee: str, *, receiver_authorizer: str | None = None,
               withdraw_delay: int = MIN_WITHDRAW_DELAY, salt: str = DEFAULT_SALT) -> tuple[Any, ...]:
        payee = to_checksum_address(payee)
        return (self.account.address, self.account.address, payee, to_checksum_address(receiver_authorizer or payee),
                self.asset.address, withdraw_delay, bytes.fromhex(salt.removeprefix("0x")))

    def channel_id(self, config: tuple[Any, ...]) -> str:
        return "0x" + bytes(self.contract.call("getChannelId", config)).hex()

    def _load(self) -> dict[str, Any]:
        if not self.book.exists():
            return {}
        try:
            data = json.loads(self.book.read_text())
        except ValueError as e:
            raise PaymentError(f"{self.book} is not valid JSON ({e}): move it aside; channel ids stay on chain") from e
        return data if isinstance(data, dict) else {}

    def _remember(self, channel_id: str, config: tuple[Any, ...]) -> None:
        data = self._load()
        data[channel_id] = {"payer": config[0], "payerAuthorizer": config[1], "receiver": config[2],
                            "receiverAuthorizer": config[3], "token": config[4], "withdrawDelay": config[5],
                            "salt": "0x" + config[6].hex()}
        self.book.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.book.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.book)

    def known(self) -> list[str]:
        return sorted(self._load())

    def config_of(self, channel_id: str) -> tuple[Any, ...]:
        raw = self._load().get(channel_id.lower())  # ids are stored as channel_id() writes them: lower-case
        if raw is None:
            raise PaymentError(f"channel {channel_id} is not in {self.book}: use an id from `tessera channel status`")
        return (raw["payer"], raw["payerAuthorizer"], raw["receiver"], raw["receiverAuthorizer"], raw["token"],
                int(raw["withdrawDelay"]), bytes.fromhex(raw["salt"][2:]))

    # -- actions -----------------------------------------------------------------------
    def deposit(self, config: tuple[Any, ...], amount: int) -> tuple[str, Receipt]:
        """Open or top up: one transaction carrying the payer's ReceiveWithAuthorization."""
        if amount <= 0:
            raise PaymentError("a deposit must be more than 0: pass e.g. --deposit 5")
        have = int(Contract.at(self.chain, "DevStablecoin", self.asset.address).call("balanceOf", self.account.address))
        if have < amount:
            raise PaymentError(f"{self.account.address} holds {self.asset.text(have)}, less than the deposit of "
                               f"{self.asset.text(amount)}: fund it first (tessera devnet fund {self.account.address})")
        channel_id = self.channel_id(config)
        salt = int.from_bytes(secrets.token_bytes(32), "big")
        nonce = keccak(abi_encode(["bytes32", "uint256"], [bytes.fromhex(channel_id[2:]), salt]))
        # validity is checked against the block's timestamp: a devnet's clock may run ahead of the wall clock
        # (time travel, fast mining), so count from whichever is later
        valid_before = max(int(time.time()), self.chain.get_block("latest").timestamp) + VALIDITY
        domain = contract_domain(self.asset.name, self.asset.version, self.chain.chain_id, self.asset.address)
        signature = sign_typed_data(self.account, transfer_authorization_data(
            domain, self.account.address, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, amount, 0, valid_before, nonce,
            primary_type="ReceiveWithAuthorization"))
        data = abi_encode(["uint256", "uint256", "uint256", "bytes"], [0, valid_before, salt, signature.packed])
        receipt = self.contract.transact(self.account, "deposit", config, amount, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, data)
        self._remember(channel_id, config)
        return channel_id, receipt

    def view(self, channel_id: str) -> ChannelView:
        config = self.config_of(channel_id)
        cid = bytes.fromhex(channel_id.removeprefix("0x"))
        balance, claimed = self.contract.call("channels", cid)
        amount, started = self.contract.call("pendingWithdrawals", cid)
        return ChannelView(channel_id.lower(), config[0], config[2], config[4], int(balance), int(claimed), int(amount),
                           int(started), int(config[5]))

    def close(self, channel_id: str) -> tuple[str, ChannelView, Receipt]:
        """Start the timed close, or finish it once the delay is over. Returns (what happened, view, receipt)."""
        view = self.view(channel_id)
        config = self.config_of(channel_id)
        if view.withdraw_started == 0:
            if view.unclaimed == 0:
                raise PaymentError(f"channel {channel_id} holds nothing unclaimed: there is nothing to take back")
            receipt = self.contract.transact(self.account, "initiateWithdraw", config, view.balance)
            return "started", self.view(channel_id), receipt
        now = self.chain.get_block().timestamp
        assert view.finalize_after is not None
        if now < view.finalize_after:
            raise PaymentError(
                f"channel {channel_id} is closing: the payee may claim until "
                f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(view.finalize_after))}; run `tessera channel "
                f"close {channel_id}` again after that")
        receipt = self.contract.transact(self.account, "finalizeWithdraw", config)
        return "closed", self.view(channel_id), receipt
