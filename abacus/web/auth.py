"""Sign-in, sign-out and the guard that keeps every other page behind a signed-in user.

Google sign-in comes with the web issue; until then the password-less development sign-in
(`ABACUS_DEV_LOGIN=1`, refused in production by config) is the only way in.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..extensions import login_manager
from ..users import load_user, record_sign_in

bp = Blueprint("auth", __name__, url_prefix="/auth")

# Reachable without signing in. Everything else (including future blueprints) is guarded.
PUBLIC_ENDPOINTS = frozenset({"health.healthz", "static", "auth.sign_in", "auth.dev_login"})

DEV_SESSION_FLAG = "dev_login"


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.sign_in"
    login_manager.user_loader(load_user)
    _register_error_pages(app)


@bp.before_app_request
def _require_sign_in() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    # Unknown URLs (endpoint None) fall through to the 404 page, which reveals nothing.
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    target = url_for("auth.sign_in", next=_current_path())
    if request.headers.get("HX-Request"):
        # A redirect would be swapped into the page; tell htmx to navigate instead.
        response = Response(status=401)
        response.headers["HX-Redirect"] = target
        return response
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error="sign-in required"), 401
    return redirect(target)


def _current_path() -> str:
    return request.full_path.rstrip("?") if request.query_string else request.path


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects).

    Browsers treat a backslash like a slash and drop tabs and line breaks, so
    `/\\evil.example` and `/\\t/evil.example` would leave the site: refuse both.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ch.isspace() or ord(ch) < 0x20 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _dev_login_enabled() -> bool:
    return bool(current_app.config["ABACUS"].dev_login)


@bp.get("/sign-in")
def sign_in() -> ResponseReturnValue:
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("dashboard.index"))
    return render_template("auth/sign_in.html", next_url=next_url,
                           dev_login=_dev_login_enabled())


@bp.route("/dev-login", methods=["GET", "POST"])
def dev_login() -> ResponseReturnValue:
    if not _dev_login_enabled():
        abort(404)
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("auth/dev_login.html", next_url=next_url, email="", error=None,
                               dev_banner=True)

    email = request.form.get("email", "").strip().lower()
    settings = current_app.config["ABACUS"]
    error, status = _check_email(email, settings.allowed_domains)
    if error:
        return render_template("auth/dev_login.html", next_url=next_url, email=email,
                               error=error, dev_banner=True), status

    user = record_sign_in(email, settings.admins)

    session.clear()  # a fresh session for the new identity
    login_user(user)
    session[DEV_SESSION_FLAG] = True
    return redirect(next_url or url_for("dashboard.index"), code=303)


def _check_email(email: str, allowed_domains: tuple[str, ...]) -> tuple[str | None, int]:
    """(message, HTTP status) when `email` may not sign in, else (None, 200)."""
    if not allowed_domains:
        return "No sign-in domain is configured (ALLOWED_DOMAINS).", 403
    local, _, domain = email.partition("@")
    if email.count("@") != 1 or not local or not domain or any(ch.isspace() for ch in email):
        return "Enter an e-mail address, like you@" + allowed_domains[0] + ".", 400
    if domain not in allowed_domains:
        return f"{domain} is not an allowed domain.", 403
    return None, 200


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    logout_user()
    session.clear()
    return redirect(url_for("auth.sign_in"), code=303)


def _register_error_pages(app: Flask) -> None:
    """Friendly pages for the errors a user can meet; the same template for all of them."""

    def render(code: int, title: str, message: str) -> ResponseReturnValue:
        if request.accept_mimetypes.best == "application/json":
            return jsonify(error=title), code
        return render_template("errors/error.html", code=code, title=title,
                               message=message), code

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return render(400, "This form has expired",
                      "The page was open too long or came from elsewhere. Go back, reload "
                      "the page and try again.")

    @app.errorhandler(403)
    def forbidden(exc: HTTPException) -> ResponseReturnValue:
        return render(403, "Not allowed", "Your account does not have access to this page.")

    @app.errorhandler(404)
    def not_found(exc: HTTPException) -> ResponseReturnValue:
        return render(404, "Page not found", "Check the address, or start from the overview.")

    @app.errorhandler(500)
    def server_error(exc: Exception) -> ResponseReturnValue:
        return render(500, "Something went wrong",
                      "The error has been logged. Try again in a moment.")
