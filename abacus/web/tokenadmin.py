"""One home for the admin pages that make, list and revoke bearer tokens (Admin → API tokens,
Admin → Ingest tokens): admins only, a new token is shown once on the answer to its form
(`Cache-Control: no-store`, never flashed, only its hash kept), every POST carries the CSRF
token. Each page module builds its blueprint here with what differs: the kind, its form
fields, how a token of that kind is made, the rows listed and the words."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..extensions import db
from ..models import AccessToken
from ..people.tokens import TokenError, revoke_token
from .access import admin_required

# (form fields stripped, signed-in admin's e-mail) -> (row, plain token); raises TokenError.
Create = Callable[[dict[str, str], str], tuple[AccessToken, str]]


def sentence(exc: TokenError) -> str:
    """A TokenError's message as a sentence for the page."""
    message = str(exc)
    return message[0].upper() + message[1:] + "."


def token_admin_blueprint(name: str, url_prefix: str, *, kind: str, template: str,
                          fields: Sequence[str], create: Create,
                          rows: Callable[[], Sequence[Any]], revoked: str,
                          context: Mapping[str, Any] | None = None) -> Blueprint:
    """The blueprint `name` at `url_prefix`: GET lists, POST makes a token from `fields`,
    POST /revoke revokes one by name and flashes `revoked` (formatted with `name`).
    `template` gets `tokens` (from `rows`), `created`/`created_name` (the token just made),
    `form` (what was sent, on a refusal), `error`, and `context`."""
    bp = Blueprint(name, __name__, url_prefix=url_prefix)

    @bp.before_request
    @admin_required
    def _admins_only() -> None:
        """Every route here answers 403 to anyone but an admin."""

    def page(*, created: str | None = None, created_name: str | None = None,
             form: dict[str, str] | None = None, error: str | None = None,
             status: int = 200) -> ResponseReturnValue:
        response = make_response(render_template(
            template, section=name, tokens=rows(), created=created, created_name=created_name,
            form=form or {}, error=error, **(context or {})), status)
        # The page that shows a new token must not be kept by the browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("")
    def index() -> ResponseReturnValue:
        return page()

    @bp.post("", endpoint="create")  # `create` is the parameter's name here
    def create_view() -> ResponseReturnValue:
        form = {k: request.form.get(k, "").strip() for k in fields}
        try:
            row, plain = create(form, current_user.email)
        except TokenError as exc:
            db.session.rollback()
            return page(form=form, error=sentence(exc), status=400)
        db.session.commit()
        return page(created=plain, created_name=row.name)

    @bp.post("/revoke")
    def revoke() -> ResponseReturnValue:
        token_name = request.form.get("name", "")
        try:
            revoke_token(kind, token_name)
        except TokenError as exc:
            db.session.rollback()
            return page(error=sentence(exc), status=404)
        db.session.commit()
        flash(revoked.format(name=token_name), "ok")
        return redirect(url_for(".index"), code=303)
    return bp
