"""`/admin/ingest-tokens`: admins create and revoke the tokens OTLP exporters post with.

A new token is shown once, on the page that answers its creation; only its hash is kept.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..extensions import db
from ..people.tokens import TokenError, create_token, revoke_token
from ..telemetry.status import token_rows
from .access import admin_required

bp = Blueprint("ingest_tokens", __name__, url_prefix="/admin/ingest-tokens")


@bp.before_request
@admin_required
def _admins_only() -> None:
    """Every route here answers 403 to members."""


def _page(new_token: str | None = None, new_name: str | None = None,
          error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("admin/ingest_tokens.html", section="ingest_tokens",
                           tokens=token_rows(), new_token=new_token, new_name=new_name,
                           error=error, form=request.form), status


@bp.get("")
def index() -> ResponseReturnValue:
    return _page()


@bp.post("")
def create() -> ResponseReturnValue:
    name = request.form.get("name", "").strip()
    email = request.form.get("email", "").strip() or None
    if email and "@" not in email:
        return _page(error=f"Owner e-mail {email!r} is not an e-mail address.", status=400)
    try:
        _row, plain = create_token("ingest", name, email=email, created_by=current_user.email)
    except TokenError as exc:
        db.session.rollback()
        return _page(error=str(exc)[0].upper() + str(exc)[1:] + ".", status=400)
    db.session.commit()
    # Shown on this response only: never stored in plain text, never flashed.
    return _page(new_token=plain, new_name=name)


@bp.post("/revoke")
def revoke() -> ResponseReturnValue:
    name = request.form.get("name", "")
    try:
        revoke_token("ingest", name)
    except TokenError as exc:
        db.session.rollback()
        return _page(error=str(exc)[0].upper() + str(exc)[1:] + ".", status=404)
    db.session.commit()
    flash(f"Ingest token {name} revoked: its exporters are refused from now on.", "ok")
    return redirect(url_for(".index"), code=303)
