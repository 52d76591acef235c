"""`/admin/ingest-tokens`: admins create and revoke the tokens OTLP exporters post with.

A new token is shown once, on the page that answers its creation; only its hash is kept. The
page logic it shares with Admin → API tokens lives in `tokenadmin`.
"""

from __future__ import annotations

from ..models import AccessToken
from ..people.tokens import TokenError, create_token
from ..telemetry.status import token_rows
from .tokenadmin import token_admin_blueprint


def _create(form: dict[str, str], by: str) -> tuple[AccessToken, str]:
    email = form["email"] or None
    if email and "@" not in email:
        raise TokenError(f"owner e-mail {email!r} is not an e-mail address")
    return create_token("ingest", form["name"], email=email, created_by=by)


bp = token_admin_blueprint(
    "ingest_tokens", "/admin/ingest-tokens", kind="ingest",
    template="admin/ingest_tokens.html", fields=("name", "email"), create=_create,
    rows=token_rows, revoked="Ingest token {name} revoked: its exporters are refused from now on.")
