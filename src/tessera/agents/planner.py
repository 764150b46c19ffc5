"""From an intent to a plan of transactions, each money-moving step decided by the owner's policy.

`Planner.plan(sentence)` parses the sentence offline (intents.py), resolves names on chain (an agent id to its
payout wallet), prices the steps in the stablecoin's base units, and asks the `PolicyEngine` about every step
that spends. The plan is what `tessera agent chat` shows for confirmation; nothing is signed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import AgentError
from ..protocol.deploy import Deployment
from .intents import Hire, Intent, Pay, Prove, Rent, Step, parse
from .policy import Decision, PolicyEngine


@dataclass(frozen=True)
class PlannedStep:
    step: Step
    decision: Decision | None = None


@dataclass(frozen=True)
class Plan:
    sentence: str
    intent: Intent
    steps: list[PlannedStep] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return all(s.decision is None or s.decision.allowed for s in self.steps)

    @property
    def refused(self) -> list[str]:
        return [s.decision.reason for s in self.steps if s.decision is not None and s.decision.verdict == "refuse"]

    def lines(self) -> list[str]:
        out = []
        for i, s in enumerate(self.steps, 1):
            verdict = f" [{s.decision.verdict}: {s.decision.reason}]" if s.decision else ""
            out.append(f"{i}. {s.step.contract}.{s.step.function}: {s.step.why}{verdict}")
        return out

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        intent = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self.intent).items()}
        return {"sentence": self.sentence, "intent": intent, "allowed": self.allowed,
                "steps": [{"contract": s.step.contract, "function": s.step.function,
                           "args": {k: str(v) for k, v in s.step.args.items()}, "why": s.step.why,
                           "decision": None if s.decision is None else
                           {"verdict": s.decision.verdict, "reason": s.decision.reason}} for s in self.steps]}


class Planner:
    def __init__(self, deployment: Deployment, engine: PolicyEngine | None = None, *, decimals: int = 6,
                 symbol: str = "tUSD") -> None:
        self.d = deployment
        self.engine = engine
        self.decimals = decimals
        self.symbol = symbol

    def base(self, amount: Decimal) -> int:
        return math.ceil(amount.scaleb(self.decimals))

    def text(self, base: int) -> str:
        from ..units import units_text

        return f"{units_text(base, self.decimals)} {self.symbol}"

    def _decide(self, to: str, amount: int) -> Decision | None:
        return self.engine.check_payment(to, amount) if self.engine else None

    def plan(self, sentence: str, parser: Any = None) -> Plan:
        """`parser`: anything with `parse(sentence) -> Intent` (default: the offline grammar)."""
        intent = parser.parse(sentence) if parser is not None else parse(sentence)
        if isinstance(intent, Pay):
            return Plan(sentence, intent, self._pay(intent))
        if isinstance(intent, Rent):
            return Plan(sentence, intent, self._rent(intent))
        if isinstance(intent, Hire):
            return Plan(sentence, intent, self._hire(intent))
        return Plan(sentence, intent, self._prove(intent))

    def _payee(self, agent_id: int) -> str:
        from ..errors import ContractRevert

        try:
            return str(self.d.agents.call("payoutOf", agent_id))
        except ContractRevert as e:
            raise AgentError(f"there is no agent {agent_id} in the registry: see `tessera agent list`") from e

    def _pay(self, p: Pay) -> list[PlannedStep]:
        to = p.address or self._payee(int(p.agent_id or 0))
        amount = self.base(p.amount)
        who = f"agent {p.agent_id} (payout {to})" if p.agent_id is not None else to
        step = Step("PolicyWallet", "pay", {"token": self.d.stablecoin.address, "to": to, "amount": amount},
                    f"pay {self.text(amount)} to {who}" + (f" for {p.memo}" if p.memo else ""))
        return [PlannedStep(step, self._decide(to, amount))]

    def _rent(self, r: Rent) -> list[PlannedStep]:
        per_hour = self.base(r.max_price_per_hour)
        deposit = math.ceil(per_hour * r.hours)
        what = (f"{r.gpus} {r.gpu_model or 'GPU'}" + ("s" if r.gpus > 1 else "")) if r.gpus else f"{r.cpus} CPU core(s)"
        order = Step("Market", "createOrder",
                     {"gpus": r.gpus, "cpus": r.cpus, "gpu_model": r.gpu_model, "max_price_per_hour": per_hour,
                      "hours": r.hours, "deposit": deposit},
                     f"order {what} for {r.hours} h at most {self.text(per_hour)}/h, escrowing {self.text(deposit)}")
        return [PlannedStep(order, self._decide(self.d.market.address, deposit))]

    def _hire(self, h: Hire) -> list[PlannedStep]:
        price = self.base(h.max_price)
        post = Step("JobBoard", "post", {"task": h.task, "max_price": price, "hours": h.hours,
                                         "priority_agent": h.agent_id or 0},
                    f"post \"{h.task}\" for at most {self.text(price)}, due in {h.hours} h"
                    + (f", agent {h.agent_id} first" if h.agent_id else ", any registered agent"))
        return [PlannedStep(post, self._decide(self.d.jobs.address, price))]

    def _prove(self, p: Prove) -> list[PlannedStep]:
        return [PlannedStep(Step("local", "prove", {"model": p.model, "input": p.input},
                                 f"prove {p.model} on {p.input} with EZKL on this machine")),
                PlannedStep(Step("InferenceVerifier", "verifyInference", {"model": p.model},
                                 "verify the proof on chain (gas only, no payment)"))]
