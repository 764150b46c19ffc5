"""Sentences to plans: what an owner asks an agent in plain words, turned into typed intents offline.

The parser is a small grammar, documented in docs/agents.md, not a model: it finds the action by its verbs and
the amounts, durations, resources and payees by their shapes, so it handles paraphrases ("rent a GPU under 2
dollars an hour for 3 hours", "I need one gpu for three hours, max $2/h"). It refuses what it cannot read with
a suggestion instead of guessing. Whatever it (or an optional LLM backend) proposes becomes a `Plan` of steps
that still goes through the owner's policy before anything is signed.

Intents:
- `Rent`: compute on the market (`gpus`/`cpus`, GPU model, max price per hour, hours);
- `Pay`: an amount to an agent id or an address, with a memo;
- `Prove`: a zk-proved inference of a model file on an input file;
- `Hire`: a job for an agent (task, max price, deadline in hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import AgentError

WORDS: dict[str, int | Decimal] = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
         "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100, "half": Decimal("0.5"), "couple": 2, "few": 3}
NUMBER = r"(\d+(?:\.\d+)?|\.\d+|" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")"
MONEY_UNIT = r"(?:dollars?|usd|tusd|bucks?|\$)"
CENT_UNIT = r"(?:cents?|¢)"
UNIT_SECONDS = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "m": 60, "hour": 3600, "hr": 3600,
                "h": 3600, "day": 86400, "d": 86400, "week": 604800, "w": 604800}
GPU_MODELS = ("h200", "h100", "a100", "l40s", "l4", "a10g", "rtx4090", "4090", "t4", "v100")
HELP = ("I can rent compute, pay, prove an inference or hire an agent; for example: \"rent a GPU under 2 dollars "
        "an hour for 3 hours\", \"pay 0.10 to agent 7 for a summary\", \"prove model.onnx on input.json\", "
        "\"hire an agent to summarise report.pdf for at most 1 dollar within 2 hours\"")


@dataclass(frozen=True)
class Rent:
    gpus: int
    cpus: int
    gpu_model: str
    max_price_per_hour: Decimal
    hours: Decimal
    kind: str = "rent"


@dataclass(frozen=True)
class Pay:
    amount: Decimal
    agent_id: int | None
    address: str | None
    memo: str
    kind: str = "pay"


@dataclass(frozen=True)
class Prove:
    model: str
    input: str
    kind: str = "prove"


@dataclass(frozen=True)
class Hire:
    task: str
    max_price: Decimal
    hours: Decimal
    agent_id: int | None
    kind: str = "hire"


Intent = Rent | Pay | Prove | Hire


@dataclass(frozen=True)
class Step:
    contract: str
    function: str
    args: dict[str, Any]
    why: str


def _num(text: str) -> Decimal:
    text = text.strip().lower()
    if text in WORDS:
        return Decimal(WORDS[text])
    try:
        return Decimal(text)
    except InvalidOperation:
        raise AgentError(f"{text!r} is not a number") from None


def _normalise(sentence: str) -> str:
    s = sentence.strip().lower()
    s = re.sub(r"\$\s*(\d+(?:\.\d+)?|\.\d+)", r"\1 dollars", s)  # $2 -> 2 dollars
    s = re.sub(r"(\d)\s*(?:/|per\s+)\s*(h|hr|hour)\b", r"\1 dollars per hour", s) if "dollar" not in s else s
    s = re.sub(r"\s+", " ", s)
    return s


def _money(s: str) -> list[tuple[Decimal, int, int]]:
    """Every amount of money in `s`: (value in dollars, start, end)."""
    found = []
    for m in re.finditer(rf"\b{NUMBER}\s*{CENT_UNIT}", s):
        found.append((_num(m.group(1)) / 100, m.start(), m.end()))
    for m in re.finditer(rf"(?:\b{NUMBER}\s*)?{MONEY_UNIT}(?:\s+and\s+{NUMBER}\s*{CENT_UNIT})?", s):
        if m.group(1) is None and not re.match(rf"{MONEY_UNIT}", m.group(0)):
            continue
        value = _num(m.group(1)) if m.group(1) else Decimal(1)
        if m.group(2):
            value += _num(m.group(2)) / 100
        if not any(a <= m.start() < b for _, a, b in found):
            found.append((value, m.start(), m.end()))
    return sorted(found, key=lambda x: x[1])


def _duration_hours(s: str) -> Decimal | None:
    """The first duration in `s` ("for 3 hours", "a day", "90 minutes", "2h"); rates must be removed first."""
    units = "|".join(sorted(UNIT_SECONDS, key=len, reverse=True))
    m = re.search(rf"\b{NUMBER}\s*({units})s?\b", s)
    if not m:
        return None
    return (_num(m.group(1)) * UNIT_SECONDS[m.group(2)] / 3600).normalize()


def _without_rate(s: str, start: int, end: int) -> str:
    """`s` without the price at [start, end) and the "per hour" that follows it."""
    tail = re.sub(r"^\s*(?:(?:per|an?|/|each|every)\s*(?:hour|hr|h)\b|hourly)", "", s[end:])
    return s[:start] + " " + tail


def parse(sentence: str) -> Intent:
    """The intent of one sentence; AgentError with a suggestion when it is not something an agent can do."""
    s = _normalise(sentence)
    if not s:
        raise AgentError(f"nothing to do: {HELP}")
    if re.search(r"\b(prove|proof|zk|verify an inference|proved)\b", s):
        files = re.findall(r"[\w./-]+\.(?:onnx|json|npz|csv)\b", sentence)
        model = next((f for f in files if f.lower().endswith(".onnx")), None)
        data = next((f for f in files if not f.lower().endswith(".onnx")), None)
        if model is None or data is None:
            raise AgentError("which model and which input? name the files, e.g. \"prove model.onnx on input.json\"")
        return Prove(model, data)
    if re.search(r"\b(rent|lease|need|want|get me|book|reserve)\b.*\b(gpus?|cpus?|cores?|machines?|servers?|"
                 rf"compute|{'|'.join(GPU_MODELS)})\b", s):
        return _rent(s)
    if re.search(r"\b(hire|find|get)\b.*\b(agents?|someone|somebody)\b", s):
        return _hire(sentence, s)
    if re.search(r"\b(pay|send|give|transfer|tip)\b", s):
        return _pay(sentence, s)
    raise AgentError(f"I could not read {sentence.strip()!r} as an action: {HELP}")


def _rent(s: str) -> Rent:
    model = next((g for g in GPU_MODELS if re.search(rf"\b{g}s?\b", s)), "")
    gpus = cpus = 0
    m = re.search(rf"\b{NUMBER}\s*(?:x\s*)?(?:(?:{'|'.join(GPU_MODELS)})\s*)?gpus?\b", s)
    if m:
        gpus = int(_num(m.group(1)))
    elif model or re.search(r"\bgpus?\b", s):
        gpus = 1
    m = re.search(rf"\b{NUMBER}\s*(?:cpus?|cores?|vcpus?)\b", s)
    if m:
        cpus = int(_num(m.group(1)))
    if gpus == 0 and cpus == 0:
        cpus = 1
    money = _money(s)
    if not money:
        raise AgentError("what is the most you will pay per hour? e.g. \"rent a GPU under 2 dollars an hour for 3 hours\"")
    price, a, b = money[0]
    hours = _duration_hours(_without_rate(s, a, b))
    if hours is None:
        raise AgentError("for how long? say e.g. \"for 3 hours\" or \"for a day\"")
    if price <= 0 or hours <= 0:
        raise AgentError("the price and the duration must be more than zero")
    return Rent(gpus, cpus, model.upper() if model else "", price, hours)


def _agent_id(s: str) -> int | None:
    m = re.search(r"\bagent\s*(?:#|no\.?|number)?\s*(\d+)\b", s)
    return int(m.group(1)) if m else None


def _pay(sentence: str, s: str) -> Pay:
    money = _money(s)
    if not money:
        bare = re.search(rf"\b(?:pay|send|give|transfer|tip)\s+(?:agent\s*\d+\s+)?{NUMBER}\b", s)
        if not bare:
            raise AgentError("how much? e.g. \"pay 0.10 to agent 7 for a summary\"")
        money = [(_num(bare.group(1)), bare.start(1), bare.end(1))]
    amount = money[0][0]
    address = re.search(r"0x[0-9a-fA-F]{40}", sentence)
    agent = _agent_id(s)
    if address is None and agent is None:
        raise AgentError("to whom? name an agent (\"to agent 7\") or an address (\"to 0x…\")")
    memo_m = re.search(r"\bfor\s+(?!agent\b)(.+)$", s)
    memo = memo_m.group(1).strip(" .") if memo_m else ""
    if amount <= 0:
        raise AgentError("the amount must be more than zero")
    return Pay(amount, agent, address.group(0) if address else None, memo)


def _hire(sentence: str, s: str) -> Hire:
    money = _money(s)
    if not money:
        raise AgentError("what is the most you will pay? e.g. \"hire an agent to summarise report.pdf for at most 1 dollar\"")
    hours = _duration_hours(s) or Decimal(24)
    task_m = re.search(r"\bto\s+(.+?)(?:\s+for\s+(?:at most|up to|no more than|under|less than)?|\s+within|\s+by|"
                       r"\s+in\s+\d|$)", s)
    task = task_m.group(1).strip(" .") if task_m else ""
    if not task:
        raise AgentError("hire an agent to do what? e.g. \"hire an agent to translate notes.txt for 1 dollar\"")
    return Hire(task, money[0][0], hours, _agent_id(s))
