"""Numbers in provider bodies: exact decimals, and cents → US dollars without rounding.

Bodies are parsed with `parse_float=Decimal` (see http.json_body), so amounts arrive as
Decimal already; some APIs send numbers as strings (protobuf JSON), which are accepted too.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from .base import ProviderError


def to_decimal(value: Any, what: str) -> Decimal:
    """A finite number from a JSON number or a numeric string; ProviderError otherwise."""
    if value is None or isinstance(value, bool):
        raise ProviderError(f"{what}: expected a number, got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(
            value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ProviderError(f"{what}: expected a number, got {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise ProviderError(f"{what}: not a finite number ({str(value)[:40]!r})")
    return number


def cents_to_usd(value: Any, what: str = "amount") -> Decimal:
    """Cents (possibly fractional) → dollars: a decimal shift, exact."""
    return to_decimal(value, what).scaleb(-2)


def token_count(value: Any, what: str) -> int:
    """A token (or request) count from a JSON number: absent is 0; a fractional, negative or
    non-numeric one means the API changed, so it fails loudly instead of storing a guess."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ProviderError(f"{what} is not a number")
    if value < 0 or value != int(value):
        raise ProviderError(f"{what} is not a count ({value})")
    return int(value)
