"""What the schedule, syncs and imports run: budget alerts, then anomaly detection."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from . import anomalies, service

log = logging.getLogger("abacus.budgets")


def evaluate_all(today: date | None = None) -> dict[str, Any]:
    """`flask abacus budgets evaluate` and the scheduled job: alerts and incidents."""
    out = service.evaluate(today).as_dict()
    out["incidents_opened"] = [i.id for i in anomalies.detect(today)]
    return out


def after_usage_change(changed_rows: int) -> dict[str, Any] | None:
    """Called after every sync, backfill and import: evaluates when stored usage changed
    (inserted or updated rows), so the days a budget covers are judged again. A failure is
    logged and never fails the sync or import that called it (the schedule retries)."""
    if not changed_rows:
        return None
    try:
        return evaluate_all()
    except Exception:
        log.exception("budget evaluation after a usage change failed")
        from ..extensions import db

        db.session.rollback()
        return None
