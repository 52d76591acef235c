"""Admin → API tokens `/admin/api-tokens`: create (the token is shown once, on the answer to
the form, never again: only its hash is kept), list with last use, revoke. Admins only; every
POST carries the CSRF token like the other admin forms."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..extensions import db
from ..models import ROLES
from ..people.tokens import TokenError, create_api_token, list_tokens, revoke_token
from .access import admin_required

bp = Blueprint("api_tokens", __name__, url_prefix="/admin/api-tokens")


@bp.before_request
@admin_required
def _admins_only() -> None:
    """Every route here answers 403 to anyone but an admin."""


def _page(*, created: str | None = None, created_name: str | None = None,
          form: dict[str, str] | None = None, error: str | None = None,
          status: int = 200) -> ResponseReturnValue:
    response = make_response(render_template(
        "admin/api_tokens.html", section="api_tokens", tokens=list_tokens("api"), roles=ROLES,
        created=created, created_name=created_name, form=form or {}, error=error), status)
    # The page that shows a new token must not be kept by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
def index() -> ResponseReturnValue:
    return _page()


@bp.post("")
def create() -> ResponseReturnValue:
    form = {k: request.form.get(k, "").strip() for k in ("name", "role", "email")}
    try:
        row, plain = create_api_token(form["name"], role=form["role"] or "member",
                                      email=form["email"] or None,
                                      created_by=current_user.email)
    except TokenError as exc:
        db.session.rollback()
        message = str(exc)
        return _page(form=form, error=message[0].upper() + message[1:] + ".", status=400)
    db.session.commit()
    return _page(created=plain, created_name=row.name)


@bp.post("/revoke")
def revoke() -> ResponseReturnValue:
    name = request.form.get("name", "")
    try:
        revoke_token("api", name)
    except TokenError as exc:
        db.session.rollback()
        message = str(exc)
        return _page(error=message[0].upper() + message[1:] + ".", status=404)
    db.session.commit()
    flash(f"API token {name} is revoked: it is refused from its next request on.", "ok")
    return redirect(url_for(".index"), code=303)
