"""Make a stored set of rows match what a provider listed, keyed the same way on both sides.

Shared by the snapshot writers (`sync.seats` for seats, `usage.billing` for bill lines): a
listed key without a row is inserted, a row whose values differ is updated, an identical one is
left alone, and the rows nothing listed are handed back for the caller to remove (each removes
them its own way). Runs in the caller's transaction; flushes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..extensions import db


@dataclass
class Reconciled:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    leftover: list[Any] = field(default_factory=list)  # stored rows no key listed


def reconcile(stored: Mapping[Hashable, Any], wanted: Mapping[Hashable, Mapping[str, Any]],
              create: Callable[[Hashable, Mapping[str, Any]], Any], *,
              on_update: Callable[[Hashable, Any, Mapping[str, Any]], None] | None = None,
              on_kept: Callable[[Any], None] | None = None) -> Reconciled:
    """Insert `create(key, values)` for new keys, set `values` on rows that differ
    (`on_update(key, row, values)` runs first, while the row still holds the old values), and
    call `on_kept(row)` on every stored row that was listed, changed or not."""
    result = Reconciled()
    for key, values in wanted.items():
        row = stored.get(key)
        if row is None:
            db.session.add(create(key, values))
            result.inserted += 1
            continue
        if any(getattr(row, k) != v for k, v in values.items()):
            if on_update is not None:
                on_update(key, row, values)
            for k, v in values.items():
                setattr(row, k, v)
            result.updated += 1
        else:
            result.unchanged += 1
        if on_kept is not None:
            on_kept(row)
    result.leftover = [row for key, row in stored.items() if key not in wanted]
    return result
