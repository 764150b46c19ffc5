"""`tessera demo`: the whole story on an embedded chain, one stage per capability."""

from .runner import DemoReport, StageResult, run_demo

__all__ = ["DemoReport", "StageResult", "run_demo"]
