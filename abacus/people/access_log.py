"""The access log: who read whose figures, and when. One writer for every face (person
pages, exports, the JSON API), so the log has one shape: `viewer` is the signed-in e-mail or
`token:NAME`, `action` says what was done (person_page | export | api), `target` what was
read (an e-mail, an export's or an API request's path)."""

from __future__ import annotations

from ..extensions import db
from ..models import AccessLogEntry

# The columns' limits (models.AccessLogEntry): longer values are cut, never refused, so a
# long query string cannot turn a read into an error.
MAX_VIEWER = 255
MAX_ACTION = 32
MAX_TARGET = 2000


def log_access(viewer: str, action: str, target: str) -> AccessLogEntry:
    """Add one entry (the time is the database's now()). Caller commits."""
    entry = AccessLogEntry(viewer=viewer[:MAX_VIEWER], action=action[:MAX_ACTION],
                           target=target[:MAX_TARGET])
    db.session.add(entry)
    return entry
