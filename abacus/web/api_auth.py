"""Who is calling the JSON API: an API token as a Flask-Login principal, and the API's JSON
error bodies.

Under `/api/v1` only `Authorization: Bearer TOKEN` authenticates; a browser's session cookie
does not (auth's user loader ignores it there), so a page's session can never be used to
read the API cross-site, and a token never authenticates any other route. The principal
carries `role` and `email` like `User`, so every permission check (`web.access`) applies to
it unchanged; an admin or finance token without an e-mail gets a placeholder that matches no
one's rows, so a rule limiting rows to "the viewer's own" gives it nothing rather than all.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Request, jsonify, request
from flask.wrappers import Response

from ..extensions import db
from ..people.access_log import log_access
from ..people.tokens import bearer, token_for

API_PREFIX = "/api/v1"
REALM = 'Bearer realm="abacus"'


def is_api_request() -> bool:
    """The current request is for the JSON API (bearer tokens, JSON errors)."""
    path = request.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


@dataclass(frozen=True)
class ApiPrincipal:
    """An API token acting as a signed-in viewer with the token's role (read-only: the API
    has GET routes only)."""

    token_name: str
    role: str
    token_email: str | None

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_api = True

    @property
    def id(self) -> str:
        return f"token:{self.token_name}"

    @property
    def email(self) -> str:
        # A token without an e-mail is nobody's: "own rows only" rules match no row.
        return self.token_email or self.id

    @property
    def name(self) -> str:
        return f"API token {self.token_name}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        return self.id


def load_principal(req: Request) -> ApiPrincipal | None:
    """Flask-Login's request loader: the live API token in the Authorization header, for API
    paths only. Records the token's last use and the request in the access log."""
    if not is_api_request():
        return None
    row = token_for("api", bearer(req.headers.get("Authorization")))
    if row is None:
        return None
    principal = ApiPrincipal(row.name, row.role or "member", row.email)
    target = req.full_path.rstrip("?") if req.query_string else req.path
    log_access(principal.id, "api", target)
    db.session.commit()
    return principal


def error_response(status: int, message: str, parameter: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """The API's error body: `{"error": message, "parameter": name}` (parameter when a query
    parameter is at fault)."""
    body: dict[str, str] = {"error": message}
    if parameter is not None:
        body["parameter"] = parameter
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = REALM
    response.headers.update(headers or {})
    return response


def unauthorized() -> Response:
    """401 for a missing, unknown or revoked token (which of them is not said)."""
    if request.headers.get("Authorization"):
        return error_response(401, "The API token is not valid (unknown or revoked).",
                              headers={"WWW-Authenticate": REALM + ', error="invalid_token"'})
    return error_response(401, "An API token is required: send Authorization: Bearer TOKEN.")
