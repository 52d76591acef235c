"""The access log: who opened whose person page, downloaded which export or called the API,
and when. Kept for ABACUS_ACCESS_LOG_DAYS; `prune` (a daily scheduled job) deletes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from ..extensions import db
from ..models import AccessLogEntry

ACTIONS = ("person_page", "export", "api")
PER_PAGE = 50
MAX_TARGET = 2000  # a path with a long query string is cut, never refused


def log_access(viewer: str, action: str, target: str) -> None:
    """Record one access and commit it (a GET has nothing else pending). `viewer` is the
    e-mail or `token:NAME`; `action` one of ACTIONS; `target` the person's e-mail, the
    export's path with its query, or the API path."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    db.session.add(AccessLogEntry(viewer=viewer[:255], action=action,
                                  target=target[:MAX_TARGET]))
    db.session.commit()


@dataclass(frozen=True)
class LogPage:
    entries: list[AccessLogEntry]
    page: int
    pages: int
    total: int


def _contains(column, text: str):
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def entries(page: int = 1, viewer: str = "", target: str = "",
            per_page: int = PER_PAGE) -> LogPage:
    """Newest first; `viewer` / `target` keep entries whose field contains the text
    (case-insensitive). A page past the end shows the last one."""
    where = []
    if viewer:
        where.append(_contains(AccessLogEntry.viewer, viewer))
    if target:
        where.append(_contains(AccessLogEntry.target, target))
    total = db.session.execute(select(func.count()).select_from(AccessLogEntry)
                               .where(*where)).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = db.session.scalars(
        select(AccessLogEntry).where(*where)
        .order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc())
        .offset((page - 1) * per_page).limit(per_page)).all()
    return LogPage(list(rows), page, pages, int(total))


def prune(days: int, now: datetime | None = None) -> int:
    """Delete entries older than `days` days (committed); how many went."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    result = db.session.execute(delete(AccessLogEntry).where(AccessLogEntry.at < cutoff))
    db.session.commit()
    return int(result.rowcount or 0)
