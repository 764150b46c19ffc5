"""An optional OpenAI-compatible backend for intents: the model reads the sentence, Tessera reads the model.

The model is asked for one JSON object in the intent schema; its answer is validated like any other input (a
strict schema, amounts as decimals, ranges checked) and becomes the same `Intent` the offline parser returns,
so whatever it proposes still goes through the planner and the owner's policy. A model that answers with
anything else is refused with one line, and nothing is signed. The API key is read from a file, never from an
environment variable.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import Field, ValidationError

from ..errors import AgentError
from ..schema import Amount, Strict, error_line
from .intents import Hire, Intent, Pay, Prove, Rent

SYSTEM = """You turn one request into one JSON object and nothing else. Schemas (amounts are decimal strings in
dollars of the stablecoin; hours are numbers):
{"kind": "rent", "gpus": int, "cpus": int, "gpu_model": str, "max_price_per_hour": str, "hours": number}
{"kind": "pay", "amount": str, "agent_id": int|null, "address": str|null, "memo": str}
{"kind": "prove", "model": str, "input": str}
{"kind": "hire", "task": str, "max_price": str, "hours": number, "agent_id": int|null}
If the request is none of these, answer {"kind": "none", "why": str}."""


class LlmIntent(Strict):
    kind: Literal["rent", "pay", "prove", "hire", "none"]
    gpus: int = Field(default=0, ge=0, le=1024)
    cpus: int = Field(default=0, ge=0, le=4096)
    gpu_model: str = Field(default="", max_length=32)
    max_price_per_hour: Amount | None = Field(default=None, gt=0, le=10**6)
    hours: Decimal | None = Field(default=None, gt=0, le=24 * 365)
    amount: Amount | None = Field(default=None, gt=0, le=10**6)
    agent_id: int | None = Field(default=None, ge=1, le=2**64 - 1)
    address: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")
    memo: str = Field(default="", max_length=500)
    model: str = Field(default="", max_length=500)
    input: str = Field(default="", max_length=500)
    task: str = Field(default="", max_length=2000)
    max_price: Amount | None = Field(default=None, gt=0, le=10**6)
    why: str = Field(default="", max_length=500)

    def intent(self) -> Intent:
        missing = lambda *names: [n for n in names if getattr(self, n) in (None, "")]  # noqa: E731
        need = {"rent": ("max_price_per_hour", "hours"), "pay": ("amount",), "prove": ("model", "input"),
                "hire": ("task", "max_price")}
        if self.kind == "none":
            raise AgentError(f"the model could not read it as an action: {self.why or 'no reason given'}")
        absent = missing(*need[self.kind])
        if absent:
            raise AgentError(f"the model's {self.kind} intent lacks {', '.join(absent)}: nothing was planned")
        if self.kind == "rent":
            return Rent(self.gpus, self.cpus or (0 if self.gpus else 1), self.gpu_model.upper(),
                        self.max_price_per_hour, self.hours)  # type: ignore[arg-type]
        if self.kind == "pay":
            if self.agent_id is None and self.address is None:
                raise AgentError("the model's payment names no payee: nothing was planned")
            return Pay(self.amount, self.agent_id, self.address, self.memo)  # type: ignore[arg-type]
        if self.kind == "prove":
            return Prove(self.model, self.input)
        return Hire(self.task, self.max_price, self.hours or Decimal(24), self.agent_id)  # type: ignore[arg-type]


class LlmIntents:
    """`parse(sentence)` through an OpenAI-compatible `/chat/completions` endpoint."""

    def __init__(self, base_url: str, model: str, *, key_file: Path | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        headers = {}
        if key_file is not None:
            try:
                headers["authorization"] = "Bearer " + key_file.read_text().strip()
            except OSError as e:
                raise AgentError(f"cannot read the API key file {key_file}: {e.strerror}") from e
        self.http = httpx.Client(transport=transport, timeout=timeout, headers=headers)

    def parse(self, sentence: str) -> Intent:
        body = {"model": self.model, "temperature": 0, "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": sentence}]}
        try:
            response = self.http.post(self.url, json=body)
        except httpx.HTTPError as e:
            raise AgentError(f"cannot reach the model at {self.url}: {e}; check --llm-url, or drop it to use "
                             "the offline parser") from e
        if response.status_code != 200:
            raise AgentError(f"the model at {self.url} answered HTTP {response.status_code}: "
                             f"{response.text[:200]}")
        try:
            content: Any = response.json()["choices"][0]["message"]["content"]
            raw = json.loads(content)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise AgentError(f"the model did not answer with one JSON intent ({type(e).__name__}): nothing "
                             "was planned") from e
        if not isinstance(raw, dict):
            raise AgentError("the model did not answer with a JSON object: nothing was planned")
        try:
            return LlmIntent.model_validate(raw).intent()
        except ValidationError as e:
            raise AgentError("the model's intent is invalid: " + error_line(e, LlmIntent, "intent", "docs/agents.md")) \
                from None
