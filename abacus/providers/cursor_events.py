"""What Cursor's two event sources (Admin API, CSV export) share: the event key.

An export of a period the API already synced into the same account must add nothing, so both
build the key the same way: event time in epoch ms, the member's e-mail (lower-cased; empty
for personal exports, which have no user column), and the raw model with the API's `default`
spelled as the CSV's `auto`.
"""

from __future__ import annotations


def cursor_model_key(raw_model: str) -> str:
    model = raw_model.strip().lower()
    return "auto" if model in ("default", "") else model


def cursor_event_key(timestamp_ms: int, user_email: str, raw_model: str) -> str:
    return f"{timestamp_ms}|{user_email.strip().lower()}|{cursor_model_key(raw_model)}"
