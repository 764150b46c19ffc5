"""The agent's built-in skills: what its paid endpoints do. Each takes a JSON object and returns one."""

from __future__ import annotations

import re
from typing import Any, Callable

from ..errors import AgentError


def summarise(body: dict[str, Any]) -> dict[str, Any]:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise AgentError("summarise needs {\"text\": \"...\"}")
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
    return {"summary": " ".join(sentences[:2]), "sentences": len(sentences), "words": len(text.split())}


def echo(body: dict[str, Any]) -> dict[str, Any]:
    return {"echo": body}


SKILLS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"summarise": summarise, "echo": echo}
