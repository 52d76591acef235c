"""Admin → API tokens `/admin/api-tokens`: create (the token is shown once, on the answer to
the form, never again: only its hash is kept), list with last use, revoke. Admins only; the
page logic it shares with Admin → Ingest tokens lives in `tokenadmin`."""

from __future__ import annotations

from ..models import ROLES, AccessToken
from ..people.tokens import create_api_token, list_tokens
from .tokenadmin import token_admin_blueprint


def _create(form: dict[str, str], by: str) -> tuple[AccessToken, str]:
    return create_api_token(form["name"], role=form["role"] or "member",
                            email=form["email"] or None, created_by=by)


bp = token_admin_blueprint(
    "api_tokens", "/admin/api-tokens", kind="api", template="admin/api_tokens.html",
    fields=("name", "role", "email"), create=_create, rows=lambda: list_tokens("api"),
    revoked="API token {name} is revoked: it is refused from its next request on.",
    context={"roles": ROLES})
