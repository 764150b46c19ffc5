"""The optional OpenAI-compatible intent backend, against a fake endpoint at the HTTP boundary: its answers are
validated like any input, and whatever it proposes still goes through the planner and the policy."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents_harness import AgentEnv, agent_env  # noqa: F401  (agent_env: the fixture)

from tessera.agents.intents import Pay, Rent
from tessera.agents.llm import LlmIntents
from tessera.agents.planner import Planner
from tessera.errors import AgentError


def fake_model(answer: Any, seen: list[dict[str, Any]] | None = None, status: int = 200) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append({"auth": request.headers.get("authorization"), **json.loads(request.content)})
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return httpx.Response(status, json={"choices": [{"message": {"role": "assistant", "content": content}}]})

    return httpx.MockTransport(handle)


def test_the_models_intent_is_validated_and_planned_under_the_policy(agent_env: AgentEnv, tmp_path: Path) -> None:
    env = agent_env
    key = tmp_path / "key"
    key.write_text("sk-test\n")
    seen: list[dict[str, Any]] = []
    llm = LlmIntents("http://llm.test/v1", "some-model", key_file=key, transport=fake_model(
        {"kind": "pay", "amount": "3", "address": env.payee.address, "memo": "a big tip"}, seen))
    plan = Planner(env.deployment, env.agent_wallet().engine).plan("be generous with the payee", parser=llm)
    assert isinstance(plan.intent, Pay) and plan.intent.amount == Decimal(3)
    assert not plan.allowed and "over the per-payment cap" in plan.refused[0]  # the model cannot loosen the policy
    assert seen[0]["auth"] == "Bearer sk-test" and seen[0]["model"] == "some-model"
    rent = LlmIntents("http://llm.test/v1", "m", transport=fake_model(
        {"kind": "rent", "gpus": 1, "gpu_model": "h100", "max_price_per_hour": "2.5", "hours": 3})).parse("x")
    assert rent == Rent(1, 0, "H100", Decimal("2.5"), Decimal(3))


@pytest.mark.parametrize("answer,message", [
    ("not json", "did not answer with one JSON intent"),
    ({"kind": "pay", "amount": "-1", "agent_id": 7}, "invalid"),
    ({"kind": "pay", "amount": "1"}, "names no payee"),
    ({"kind": "launch", "target": "moon"}, "invalid"),
    ({"kind": "none", "why": "a sandwich is not an action"}, "a sandwich is not an action"),
    ({"kind": "hire", "max_price": "1"}, "lacks task"),
])
def test_bad_model_answers_plan_nothing(answer: Any, message: str) -> None:
    with pytest.raises(AgentError, match=message) as info:
        LlmIntents("http://llm.test/v1", "m", transport=fake_model(answer)).parse("anything")
    assert "\n" not in str(info.value)


def test_an_unreachable_or_failing_model_is_one_line() -> None:
    with pytest.raises(AgentError, match="answered HTTP 500"):
        LlmIntents("http://llm.test/v1", "m", transport=fake_model("{}", status=500)).parse("x")
    with pytest.raises(AgentError, match="cannot reach the model"):
        LlmIntents("http://127.0.0.1:9/v1", "m", timeout=1).parse("x")
