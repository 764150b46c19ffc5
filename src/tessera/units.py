"""Token amounts as people read them: exact decimal text from base units (never through a float)."""

from __future__ import annotations

from decimal import Decimal


def units_text(base: int, decimals: int) -> str:
    """10_500_000 at 6 decimals → "10.50"; 1 wei at 18 → "0.000000000000000001". Exact; at least 2 places."""
    text = f"{Decimal(base).scaleb(-decimals):,.{decimals}f}"
    if decimals:
        whole, frac = text.rstrip("0").split(".")
        text = f"{whole}.{frac.ljust(2, '0')}"
    return text


def amount_json(base: int, decimals: int, unit: str) -> dict[str, str]:
    """The one shape amounts take in --json: base units as a string, the exact decimal form, the unit."""
    return {"base": str(base), "decimal": units_text(base, decimals).replace(",", ""), "unit": unit}
