"""The access log: who read whose figures, and when. One writer for every face (person
pages, exports, the JSON API), so the log has one shape: `viewer` is the signed-in e-mail or
`token:NAME`, `action` says what was done (person_page | export | api), `target` what was
read (an e-mail, an export's or an API request's path). Admin → Access log reads it
(`entries`); it is kept for ABACUS_ACCESS_LOG_DAYS (`prune`, a daily scheduled job)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from ..extensions import db
from ..models import AccessLogEntry

ACTIONS = ("person_page", "export", "api")
PER_PAGE = 50
# The columns' limits (models.AccessLogEntry): longer values are cut, never refused, so a
# long query string cannot turn a read into an error.
MAX_VIEWER = 255
MAX_TARGET = 2000


def log_access(viewer: str, action: str, target: str) -> AccessLogEntry:
    """Add one entry (the time is the database's now()); `action` is one of ACTIONS. Caller
    commits."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    entry = AccessLogEntry(viewer=viewer[:MAX_VIEWER], action=action,
                           target=target[:MAX_TARGET])
    db.session.add(entry)
    return entry


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
