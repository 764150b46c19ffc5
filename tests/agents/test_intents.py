"""The offline intent parser on a table of sentences (paraphrases included), refusals with a suggestion, and
plans whose spending steps the policy decides."""

from __future__ import annotations

from decimal import Decimal

import pytest
from agents_harness import USD, AgentEnv, agent_env  # noqa: F401  (agent_env: the fixture)
from hypothesis import given, settings
from hypothesis import strategies as st
from eth_utils import keccak

from tessera.agents.intents import Hire, Pay, Prove, Rent, parse
from tessera.agents.planner import Planner
from tessera.errors import AgentError

D = Decimal
ADDR = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"

TABLE = [
    ("rent a GPU under 2 dollars an hour for 3 hours", Rent(1, 0, "", D(2), D(3))),
    ("I need one gpu for three hours, max $2/h", Rent(1, 0, "", D(2), D(3))),
    ("lease 2 A100 GPUs for a day at most 3.50 usd per hour", Rent(2, 0, "A100", D("3.50"), D(24))),
    ("rent 4 cpus for 90 minutes below 40 cents an hour", Rent(0, 4, "", D("0.4"), D("1.5"))),
    ("Book an H100 for 2h, no more than $4 hourly", Rent(1, 0, "H100", D(4), D(2))),
    ("could you reserve a machine with 8 cores for a week, up to 1 dollar per hour?", Rent(0, 8, "", D(1), D(168))),
    ("pay 0.10 to agent 7 for a summary", Pay(D("0.10"), 7, None, "a summary")),
    ("Send $5 to " + ADDR, Pay(D(5), None, ADDR, "")),
    ("give agent 12 a dollar for the translation", Pay(D(1), 12, None, "the translation")),
    ("tip agent 3 fifty cents", Pay(D("0.5"), 3, None, "")),
    ("please transfer 2 dollars and 25 cents to agent #4", Pay(D("2.25"), 4, None, "")),
    ("prove model.onnx on input.json", Prove("model.onnx", "input.json")),
    ("get a zk proof of classifier.onnx for data.json", Prove("classifier.onnx", "data.json")),
    ("hire an agent to summarise report.pdf for at most 1 dollar within 2 hours",
     Hire("summarise report.pdf", D(1), D(2), None)),
    ("find someone to translate notes.txt for $0.50", Hire("translate notes.txt", D("0.50"), D(24), None)),
]


@pytest.mark.parametrize("sentence,expected", TABLE, ids=[t[0][:40] for t in TABLE])
def test_the_parser_reads_the_table(sentence: str, expected: object) -> None:
    assert parse(sentence) == expected


@pytest.mark.parametrize("sentence,hint", [
    ("make me a sandwich", "I can rent compute, pay, prove an inference or hire an agent"),
    ("pay agent 7", "how much?"),
    ("pay 3 dollars", "to whom?"),
    ("rent a gpu for 3 hours", "most you will pay per hour"),
    ("rent a gpu under 2 dollars an hour", "for how long?"),
    ("prove my model", "which model and which input?"),
    ("", "nothing to do"),
])
def test_nonsense_is_refused_with_a_suggestion(sentence: str, hint: str) -> None:
    with pytest.raises(AgentError, match=hint) as info:
        parse(sentence)
    assert "\n" not in str(info.value)


@settings(max_examples=60, deadline=None)
@given(cents=st.integers(1, 99_999), agent=st.integers(1, 10_000),
       verb=st.sampled_from(["pay", "send", "give", "transfer", "tip"]),
       shape=st.sampled_from(["{v} ${a} to agent {n}", "{v} {a} dollars to agent {n}", "please {v} agent {n} {a} usd",
                              "{v} agent {n} ${a} for the work"]))
def test_payments_parse_in_any_of_their_shapes(cents: int, agent: int, verb: str, shape: str) -> None:
    amount = D(cents) / 100
    intent = parse(shape.format(v=verb, a=f"{amount:.2f}", n=agent))
    assert isinstance(intent, Pay) and intent.amount == amount and intent.agent_id == agent


def test_a_plan_resolves_the_agent_and_asks_the_policy(agent_env: AgentEnv) -> None:
    env = agent_env
    d = env.deployment
    r = d.agents.transact(env.payee, "register", "https://agent", keccak(b"card"))
    agent_id = int(d.agents.events(r, "Registered")[0].args["id"])
    planner = Planner(d, env.agent_wallet().engine)
    ok = planner.plan(f"pay 0.10 to agent {agent_id} for a summary")
    assert ok.allowed and ok.steps[0].step.args["to"] == env.payee.address
    assert ok.steps[0].step.args["amount"] == USD // 10
    big = planner.plan(f"pay 3 dollars to agent {agent_id}")
    assert not big.allowed and "over the per-payment cap" in big.refused[0]
    rent = planner.plan("rent a GPU under 2 dollars an hour for 3 hours")
    assert rent.steps[0].step.args["deposit"] == 6 * USD and not rent.allowed  # the market is no allowed payee
    assert "Market.createOrder" in rent.lines()[0]
    with pytest.raises(AgentError, match="no agent 999"):
        planner.plan("pay 0.10 to agent 999")
    assert planner.plan("prove model.onnx on input.json").allowed  # proving spends nothing but gas
