"""How a number is written for people: one rule for the command line's tables and the report's."""

from __future__ import annotations

import math
from typing import Any


def number(value: Any, digits: int = 4) -> str:
    """Plain, compact numbers for tables: from 1,000 up whole with separators (never in exponent
    form), smaller ones to ``digits`` figures."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if math.isfinite(value) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"
