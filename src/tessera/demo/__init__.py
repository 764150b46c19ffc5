"""`tessera demo`: the whole story on an embedded chain, one stage per capability."""

from .runner import TYPICAL_SECONDS, DemoReport, StageResult, plan, run_demo, stage_names

__all__ = ["TYPICAL_SECONDS", "DemoReport", "StageResult", "plan", "run_demo", "stage_names"]
