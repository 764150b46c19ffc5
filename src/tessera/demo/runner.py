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
from ..errors import TesseraError


@dataclass
class StageResult:
    name: str
    ok: bool
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

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
    from . import coprocessor_stage, market_stage, stages, subnet_stage, zkml_stage

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
    ]


def run_demo(chain: Chain | None = None, *, only: list[str] | None = None,
             progress: Callable[[StageResult], None] | None = None) -> DemoReport:
    ctx = DemoContext(chain=chain or EmbeddedChain())
    results: list[StageResult] = []
    failed = False
    for name, stage in _stages():
        if only and name not in only:
            continue
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
                result.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
            failed = failed or not result.ok
        result.seconds = time.perf_counter() - start
        results.append(result)
        if progress:
            progress(result)
    return DemoReport(results)
