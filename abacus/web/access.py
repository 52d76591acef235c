"""Who may see and do what: admins do admin things; members may be limited to their own rows.

`ABACUS_MEMBER_VISIBILITY=self` keeps team aggregates visible to members but hides other
people's per-person rows (pivot rows, person pages, raw records, commits) and anything that
narrows a total down to someone else (the Team filter, unmapped identities and other
people's seats on Status).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import abort, current_app
from flask_login import current_user

F = TypeVar("F", bound=Callable)


def is_admin() -> bool:
    return bool(getattr(current_user, "is_admin", False))


def is_finance() -> bool:
    """Admins and finance see every figure and export (finance: no admin actions)."""
    return getattr(current_user, "role", None) in ("admin", "finance")


def finance_required(view: F) -> F:
    """403 for anyone but admin or finance (money reports such as chargeback)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not is_finance():
            abort(403)
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def admin_required(view: F) -> F:
    """403 for anyone but an admin (the sign-in guard already handled anonymous users)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not is_admin():
            abort(403)
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def only_person() -> str | None:
    """The e-mail per-person rows must be limited to, or None when everyone is visible."""
    if is_admin() or current_app.config["ABACUS"].member_visibility == "all":
        return None
    return current_user.email


def can_view_person(person: str) -> bool:
    limit = only_person()
    return limit is None or person.lower() == limit
