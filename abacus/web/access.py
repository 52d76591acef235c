"""The web's adapter to the role policy (`abacus.access.policy`): the Viewer of this request,
built from `flask_login.current_user` (a signed-in user, or the API's token user: only its
`role`, `email` and optional `access_label` are read), the decorators that refuse a route,
and the access log of this request.

Every check of a page, fragment, export or API route goes through `viewer()`; nothing else
in web decides who may see what.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import abort, current_app, g, request
from flask_login import current_user

from ..access.policy import GroupCheck, Viewer
from ..extensions import db
from ..people.access_log import log_access
from .ranges import TimeRange, current_range, org_today

F = TypeVar("F", bound=Callable)


def viewer() -> Viewer:
    """The Viewer of this request (made once per request: a role changed by an admin counts
    from the user's next request, since the user row is loaded on every request)."""
    found = g.get("abacus_viewer")
    if found is None:
        settings = current_app.config["ABACUS"]
        signed_in = bool(getattr(current_user, "is_authenticated", False))
        found = Viewer(role=getattr(current_user, "role", None) if signed_in else "none",
                       email=getattr(current_user, "email", None) if signed_in else None,
                       member_visibility=settings.member_visibility,
                       min_group_size=settings.min_group_size, today=org_today(),
                       label=_label() if signed_in else None)
        g.abacus_viewer = found
    return found


def _label() -> str | None:
    """How the access log names the viewer: an API token as `token:NAME` (its id), a person
    by e-mail (the Viewer's default)."""
    if getattr(current_user, "is_api", False):
        return current_user.get_id()
    return None


def is_admin() -> bool:
    return viewer().may_admin


def is_finance() -> bool:
    """Admins and finance see every figure and export (finance: no admin actions)."""
    return viewer().sees_all_figures


def _refuse_unless(check: Callable[[], bool], view: F) -> F:
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not check():
            abort(403)
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def finance_required(view: F) -> F:
    """403 for anyone but admin or finance (money reports such as chargeback, Seats)."""
    return _refuse_unless(is_finance, view)


def admin_required(view: F) -> F:
    """403 for anyone but an admin (the sign-in guard already handled anonymous users)."""
    return _refuse_unless(is_admin, view)


def visible_people(rng: TimeRange | None = None) -> frozenset[str] | None:
    """Whose per-person rows this request may show over the range (default: the page's),
    or None for everyone."""
    rng = rng or current_range()
    return viewer().visible_people(rng.start, rng.end)


def can_view_person(person: str, rng: TimeRange | None = None) -> bool:
    rng = rng or current_range()
    return viewer().may_view_person(person, rng.start, rng.end)


def groups(rng: TimeRange | None = None) -> GroupCheck:
    """The minimum-group-size check for the aggregates of the range (default: the page's)."""
    rng = rng or current_range()
    return viewer().groups(rng.start, rng.end)


def own_scope() -> str | None:
    """Budgets and incidents: None for admins and finance (all of them), else the viewer's
    own e-mail (members and leads see the budgets and incidents on themselves)."""
    v = viewer()
    return None if v.sees_all_figures else (v.email or "")


def log(action: str, target: str) -> None:
    """Record this request's access (person_page, export or api) under the viewer's label."""
    log_access(viewer().label or "anonymous", action, target)
    db.session.commit()  # a GET has nothing else pending


def log_export() -> None:
    """An export is being downloaded: record its path with the query (range, filters)."""
    log("export", request.full_path.rstrip("?"))
