"""How the CLI shows results: a readable text form, or one JSON object with --json."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

from ..errors import TesseraError


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def emit(as_json: bool, payload: dict[str, Any], text: Callable[[], str] | str) -> None:
    if as_json:
        click.echo(json.dumps(payload, default=_default, indent=2))
    else:
        click.echo(text() if callable(text) else text)


def fail(as_json: bool, error: TesseraError | str, code: int = 1) -> None:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message,
                               "type": type(error).__name__ if isinstance(error, TesseraError) else "Error"}))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)
