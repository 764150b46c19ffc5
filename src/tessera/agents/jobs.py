"""The JobBoard and the AgentRegistry from Python: post, deliver (commit then reveal), accept, dispute,
release and refund jobs; register agents with a service card and read their reputation."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak
from pydantic import Field, HttpUrl

from ..chain.base import Chain, Receipt
from ..chain.contract import Contract, Signer
from ..errors import AgentError, ContractRevert
from ..protocol.deploy import Deployment
from ..schema import Amount, Strict, parse
from ..units import units_text

STATES = ("none", "open", "delivered", "disputed", "paid", "refunded")
ZERO32 = b"\0" * 32


class AgentCard(Strict):
    """What an agent offers (the JSON file behind its token URI; its hash is pinned on chain)."""

    name: str = Field(min_length=1, max_length=80)
    endpoint: HttpUrl
    skills: list[str] = Field(min_length=1, max_length=50)
    prices: dict[str, Amount] = Field(default_factory=dict)  # skill -> price per call, stablecoin units
    schemes: list[str] = Field(default_factory=lambda: ["exact", "batch-settlement"])
    description: str = Field(default="", max_length=2000)


def read_card(path: Path) -> tuple[bytes, AgentCard]:
    try:
        data = path.read_bytes()
        raw = json.loads(data)
    except OSError as e:
        raise AgentError(f"cannot read the agent card {path}: {e.strerror}") from e
    except ValueError as e:
        raise AgentError(f"{path} is not JSON ({e}): an agent card is a JSON object - see docs/agents.md") from e
    card = parse(AgentCard, raw, str(path), "docs/agents.md")
    unknown = [s for s in card.schemes if s not in ("exact", "batch-settlement")]
    if unknown:
        raise AgentError(f"{path}: schemes: {', '.join(unknown)} unknown; Tessera agents accept exact and "
                         "batch-settlement")
    return data, card


@dataclass(frozen=True)
class AgentView:
    id: int
    owner: str
    payout: str
    card_hash: str
    uri: str
    score: int
    paid_volume: int
    payers: int
    raters: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "owner": self.owner, "payout": self.payout, "card_hash": self.card_hash,
                "uri": self.uri, "reputation": {"score": self.score, "paid_volume": str(self.paid_volume),
                                                "payers": self.payers, "raters": self.raters}}


class AgentRegistryClient:
    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.contract = d.agents

    def register(self, owner: Signer, card_file: Path, uri: str | None = None) -> tuple[int, Receipt]:
        data, _ = read_card(card_file)
        receipt = self.contract.transact(owner, "register", uri or card_file.resolve().as_uri(), keccak(data))
        return int(self.contract.events(receipt, "Registered")[0].args["id"]), receipt

    def view(self, agent_id: int) -> AgentView:
        try:
            owner = str(self.contract.call("ownerOf", agent_id))
        except ContractRevert as e:
            raise AgentError(f"there is no agent {agent_id}: register one with `tessera agent register CARD`") from e
        card_hash, _, _, _ = self.contract.call("agents", agent_id)
        score, volume, payers, raters = self.contract.call("scoreOfAgent", agent_id)
        return AgentView(agent_id, owner, str(self.contract.call("payoutOf", agent_id)), "0x" + bytes(card_hash).hex(),
                         str(self.contract.call("tokenURI", agent_id)), int(score), int(volume), int(payers), int(raters))


@dataclass(frozen=True)
class JobView:
    id: int
    poster: str
    max_price: int
    price: int
    deadline: int
    priority_until: int
    review_until: int
    priority_agent: int
    delivered_by: int
    pay_to: str
    state: str
    task_hash: str
    result_hash: str
    model_id: str

    @classmethod
    def of(cls, job_id: int, raw: Any) -> "JobView":
        return cls(job_id, str(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]), int(raw[6]), int(raw[7]),
                   int(raw[8]), str(raw[9]), STATES[int(raw[10])], "0x" + bytes(raw[11]).hex(),
                   "0x" + bytes(raw[12]).hex(), "0x" + bytes(raw[13]).hex())

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if k in ("max_price", "price") else v) for k, v in self.__dict__.items()}

    def text(self, decimals: int = 6, symbol: str = "tUSD") -> str:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.deadline))
        who = f", priority agent {self.priority_agent}" if self.priority_agent else ""
        done = f", delivered by agent {self.delivered_by} for {units_text(self.price, decimals)} {symbol}" \
            if self.delivered_by else ""
        return (f"job {self.id} [{self.state}] max {units_text(self.max_price, decimals)} {symbol}, due {when}"
                f"{who}{done}")


class JobBoardClient:
    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.chain: Chain = d.jobs.chain
        self.contract: Contract = d.jobs

    def post_args(self, task: str | bytes, max_price: int, hours: float, *, priority_agent: int = 0,
                  priority_window: int = 0, review_window: int = 3600, model_id: bytes = ZERO32,
                  inputs_hash: bytes = ZERO32, n_inputs: int = 0) -> tuple[Any, ...]:
        now = int(self.chain.get_block("latest").timestamp)
        task_hash = keccak(task.encode() if isinstance(task, str) else task)
        return (task_hash, max_price, now + int(hours * 3600), priority_agent, priority_window, review_window,
                model_id, inputs_hash, n_inputs)

    def post(self, poster: Signer, args: tuple[Any, ...]) -> tuple[int, Receipt]:
        """Post from an EOA: approves the board for the max price if needed, then escrows it."""
        coin = self.d.stablecoin
        if int(coin.call("allowance", poster.address, self.contract.address)) < args[1]:
            coin.transact(poster, "approve", self.contract.address, args[1])
        receipt = self.contract.transact(poster, "post", args)
        return self._posted(receipt), receipt

    def post_with_authorization(self, submitter: Signer, args: tuple[Any, ...], poster: str, valid_after: int,
                                valid_before: int, signature: bytes) -> tuple[int, Receipt]:
        receipt = self.contract.transact(submitter, "postWithAuthorization", args, poster, valid_after, valid_before,
                                         signature)
        return self._posted(receipt), receipt

    def post_nonce(self, args: tuple[Any, ...], poster: str) -> bytes:
        return bytes(self.contract.call("postNonce", args, poster))

    def _posted(self, receipt: Receipt) -> int:
        return int(self.contract.events(receipt, "Posted")[0].args["id"])

    def deliver(self, owner: Signer, job_id: int, agent_id: int, result: bytes, price: int,
                instances: list[int] | None = None) -> Receipt:
        """Commit, then reveal: the commit is mined before the reveal is sent, so the reveal lands in a later
        block, as the board requires."""
        instances = instances or []
        salt = os.urandom(32)
        result_hash = keccak(result)
        h = self.contract.call("deliveryHash", job_id, agent_id, owner.address, result_hash, price, instances, salt)
        self.contract.transact(owner, "commit", job_id, agent_id, h)
        return self.contract.transact(owner, "deliver", job_id, agent_id, result_hash, price, instances, salt)

    def act(self, signer: Signer, action: str, job_id: int, *extra: Any) -> Receipt:
        if action not in ("accept", "dispute", "release", "refund", "resolve"):
            raise AgentError(f"unknown job action {action}")
        return self.contract.transact(signer, action, job_id, *extra)

    def view(self, job_id: int) -> JobView:
        try:
            return JobView.of(job_id, self.contract.call("job", job_id))
        except ContractRevert as e:
            raise AgentError(f"there is no job {job_id}: see `tessera job list`") from e

    def list(self, limit: int = 200) -> list[JobView]:
        n = int(self.contract.call("jobCount"))
        return [self.view(i) for i in range(max(0, n - limit), n)]
