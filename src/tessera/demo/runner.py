"""Runs the demo stages in order and collects what each one measured.

The library never prints: each stage returns lines of a readable report plus figures,
and the CLI decides how to show them. A failing stage is recorded (ok=False, with its
error) and the stages that depend on it are skipped.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from ..chain.base import Chain
from ..chain.embedded import EmbeddedChain
from ..errors import ConfigError, TesseraError


@dataclass
class StageResult:
    name: str
    ok: bool
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    trace: str | None = None  # the traceback of an unexpected failure, shown only with TESSERA_DEBUG

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "ok": self.ok, "figures": self.figures,
                               "seconds": round(self.seconds, 3)}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class DemoReport:
    stages: list[StageResult]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "stages": [s.to_dict() for s in self.stages]}


@dataclass
class DemoContext:
    """What stages share: the chain and anything earlier stages produced."""

    chain: Chain
    state: dict[str, Any] = field(default_factory=dict)


Stage = Callable[[DemoContext, StageResult], None]


def _stages() -> list[tuple[str, Stage]]:
    from . import (agents_stage, coprocessor_stage, market_stage, payments_stage, stages, subnet_stage,
                   training_stage, zkml_stage)

    return [
        ("chain", stages.chain_stage),
        ("deploy", stages.deploy_stage),
        ("emission", stages.emission_stage),
        ("halving", stages.halving_stage),
        ("events", stages.events_stage),
        ("market", market_stage.market_stage),
        ("zkml", zkml_stage.zkml_stage),
        ("subnet", subnet_stage.subnet_stage),
        ("coprocessor", coprocessor_stage.coprocessor_stage),
        ("payments", payments_stage.payments_stage),
        ("agents", agents_stage.agents_stage),
        ("training", training_stage.training_stage),
    ]


# Seconds each stage usually takes on a 2-core machine with a warm zk cache (a cold cache adds key setup:
# about a minute for zkml and coprocessor), for progress estimates; measured with `tessera demo --json`.
TYPICAL_SECONDS = {"chain": 1, "deploy": 3, "emission": 1, "halving": 2, "events": 1, "market": 12, "zkml": 70,
                   "subnet": 37, "coprocessor": 80, "payments": 8, "agents": 12,
                   "training": 20}
# every stage runs on the deployed protocol
_REQUIRES = {"chain": [], "deploy": ["chain"]}


def stage_names() -> list[str]:
    return [name for name, _ in _stages()]


def plan(only: list[str] | None) -> list[str]:
    """The stages to run for `only` (None: all), with the stages they need, in story order."""
    names = stage_names()
    if not only:
        return names
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ConfigError(f"unknown demo stage(s) {', '.join(unknown)}: the stages are {', '.join(names)}")
    wanted = set(only)
    for n in only:
        wanted.update(_REQUIRES.get(n, ["chain", "deploy"]))
    return [n for n in names if n in wanted]


def run_demo(chain: Chain | None = None, *, only: list[str] | None = None,
             progress: Callable[[StageResult], None] | None = None,
             on_start: Callable[[str], None] | None = None) -> DemoReport:
    """Run the stages in `plan(only)`; `on_start(name)` and `progress(result)` bracket each one."""
    selected = plan(only)
    ctx = DemoContext(chain=chain or EmbeddedChain())
    results: list[StageResult] = []
    failed = False
    for name, stage in _stages():
        if name not in selected:
            continue
        if on_start:
            on_start(name)
        result = StageResult(name=name, ok=True)
        start = time.perf_counter()
        if failed:
            result.ok = False
            result.error = "skipped: an earlier stage failed"
        else:
            try:
                stage(ctx, result)
            except TesseraError as e:
                result.ok, result.error = False, str(e)
            except Exception as e:  # a demo reports every failure rather than dying mid-story
                result.ok = False
                result.error = f"internal error {type(e).__name__}: {e} (a bug in Tessera; please report it)"
                result.trace = traceback.format_exc()
            failed = failed or not result.ok
        result.seconds = time.perf_counter() - start
        results.append(result)
        if progress:
            progress(result)
    return DemoReport(results)
