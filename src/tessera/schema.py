"""Schemas for everything a user writes (specs, configs, request bodies): pydantic models that refuse unknown
keys, check ranges, and read amounts as decimals; a validation failure becomes one line naming the field.

A model derives from `Strict`; `parse(Model, raw, where, docs)` returns the model or raises ConfigError:

    spec.yaml: bid_widow: unknown key (known: bid_window, deposit, …) - see docs/market.md
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound="Strict")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "k": 1000, "ki": 1024, "m": 1000**2, "mi": 1024**2, "g": 1000**3, "gi": 1024**3,
          "t": 1000**4, "ti": 1024**4}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _decimal(value: Any) -> Decimal:
    """Numbers as decimals from their text: YAML's 1.50 or "1.50", never through a float's binary value."""
    if isinstance(value, bool):
        raise ValueError("a number is needed, not true/false")
    if isinstance(value, (int, float, Decimal)):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("a number is needed, e.g. 1.50")
    try:
        out = Decimal(value.strip())
    except ArithmeticError:
        raise ValueError(f"{value!r} is not a number: write e.g. 1.50") from None
    if not out.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return out


def _size(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a size is needed, e.g. 512Mi or 2Gi")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size: write e.g. 512Mi or 2Gi")
    unit = m.group(2).lower() if m.group(2) else None
    return int(Decimal(m.group(1)) * _UNITS[unit])


def _int(value: Any) -> int:
    """Integers only: 5 or "5"; not 5.5, not true, not "five"."""
    if isinstance(value, bool):
        raise ValueError("a whole number is needed, not true/false")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError(f"{value!r} is not a whole number")


Amount = Annotated[Decimal, BeforeValidator(_decimal)]
Size = Annotated[int, BeforeValidator(_size)]
Int = Annotated[int, BeforeValidator(_int)]


def amount(*, gt: float | None = None, ge: float | None = 0, le: float = 1e15) -> Any:
    """An Amount with a range (token units)."""
    return Field(gt=Decimal(str(gt)) if gt is not None else None, ge=Decimal(str(ge)) if ge is not None and
                 gt is None else None, le=Decimal(str(le)))


def error_line(e: ValidationError, model: type[BaseModel], where: str, docs: str) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        msg = "unknown key"
        parent = err["loc"][:-1]
        known = _known_keys(model, parent)
        if known:
            msg += f" (known here: {', '.join(known)})"
    elif kind == "missing":
        msg = "missing"
    else:
        msg = msg.removeprefix("Value error, ")
        for long, short in _PHRASES:
            msg = msg.replace(long, short)
        if "input" in err and kind not in ("value_error",):
            value = err["input"]
            msg = f"{value if isinstance(value, (int, Decimal)) else repr(value)} {msg}"
    more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    return f"{where}: {loc}: {msg}{more} - see {docs}"


_PHRASES = (("Input should be greater than or equal to", "must be at least"),
            ("Input should be less than or equal to", "must be at most"),
            ("Input should be greater than", "must be more than"),
            ("Input should be less than", "must be less than"),
            ("Input should be", "should be"),
            ("String should match pattern", "does not have the expected form"))


def _known_keys(model: type[BaseModel], parent: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in parent:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = args[0] if args else ann
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def parse(model: type[M], raw: Any, where: str, docs: str) -> M:
    """Validate `raw` (a mapping from YAML/JSON) against `model`; errors are one ConfigError line."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {type(raw).__name__} - see {docs}")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(error_line(e, model, where, docs)) from None
