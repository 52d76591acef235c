"""Sign-in, sign-out and the guard that keeps every other page behind a signed-in user.

People sign in through OpenID Connect: Google (GOOGLE_CLIENT_ID/SECRET) and/or any other
provider found by its discovery URL (OIDC_DISCOVERY_URL, OIDC_CLIENT_ID/SECRET: Okta,
Keycloak, Authentik…). Authlib runs the authorization-code flow with state, nonce and PKCE
and validates the ID token; `users.admitted_email` decides who gets in. The password-less
development sign-in (`ABACUS_DEV_LOGIN=1`, refused in production by config) stays for local
work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth, OAuthError
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
from joserfc.errors import JoseError
from werkzeug.exceptions import HTTPException

from ..extensions import db, login_manager
from ..models import User
from ..observability import DATABASE_ERRORS, database_error_page
from ..people.users import (
    CLOSED_MESSAGE,
    SignInRefused,
    admitted_email,
    end_session,
    grant_configured_roles,
    has_admin,
    record_sign_in,
    session_user,
    start_session,
)
from . import api_auth
from .htmx import page_for

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

# Reachable without signing in. Everything else (including future blueprints) is guarded.
# /metrics and /cron/* check their own bearer tokens (web/ops.py), /otlp/* ingest tokens.
PUBLIC_ENDPOINTS = frozenset({"health.healthz", "static", "auth.sign_in", "auth.dev_login",
                              "auth.login", "auth.callback", "ops.readyz", "ops.metrics",
                              "ops.cron_sync", "webhooks.github", "api.openapi",
                              "otlp.metrics", "otlp.logs"})

DEV_SESSION_FLAG = "dev_login"
SESSION_TOKEN_KEY = "sid"  # the server-side session's token (users.start_session)
# What Flask-Login keeps in the cookie session; dropped when the server-side session is gone.
LISTED_ADMIN_KEY = "env_admin"  # whether ABACUS_ADMINS listed the user when last checked
LOGIN_KEYS = ("_user_id", "_fresh", "_id", SESSION_TOKEN_KEY, DEV_SESSION_FLAG,
              LISTED_ADMIN_KEY)
NEXT_KEY = "sign_in_next"  # where to go after the provider round trip (a same-site path)

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
SCOPE = "openid email profile"
PROVIDER_TIMEOUT = 10  # seconds for each discovery, token and key request to a provider
EXTENSION_KEY = "abacus.sign_in_providers"


@dataclass(frozen=True)
class Provider:
    """A configured identity provider: `name` is its URL segment, `label` its button text."""

    name: str
    label: str
    client: FlaskOAuth2App = field(repr=False)
    hosted_domain_required: bool = False
    authorize_params: dict[str, str] = field(default_factory=dict)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.sign_in"
    login_manager.user_loader(_load_user)
    # Under /api/v1 the viewer is the bearer token's principal (never the session's user).
    login_manager.request_loader(api_auth.load_principal)
    app.extensions[EXTENSION_KEY] = _configure_providers(app)
    _register_error_pages(app)


def _configure_providers(app: Flask) -> dict[str, Provider]:
    """One Authlib registry per app, not a module-wide one: Authlib caches a client per name,
    so a shared registry would hand a second app (tests, the worker) the first app's
    provider settings."""
    settings = app.config["ABACUS"]
    registry = OAuth(app)
    client_kwargs = {"scope": SCOPE, "code_challenge_method": "S256",
                     "default_timeout": PROVIDER_TIMEOUT}
    providers: dict[str, Provider] = {}

    if settings.google_client_id and settings.google_client_secret:
        google = registry.register("google", client_id=settings.google_client_id,
                                   client_secret=settings.google_client_secret,
                                   server_metadata_url=GOOGLE_DISCOVERY_URL,
                                   client_kwargs=client_kwargs)
        params = {"prompt": "select_account"}
        if len(settings.allowed_domains) == 1:
            # Only a hint for Google's account chooser; the `hd` claim is still checked.
            params["hd"] = settings.allowed_domains[0]
        providers["google"] = Provider("google", "Google", google, hosted_domain_required=True,
                                       authorize_params=params)
    elif settings.google_client_id or settings.google_client_secret:
        log.warning("Google sign-in is off: set both GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET")

    if settings.oidc_discovery_url and settings.oidc_client_id:
        kwargs = dict(client_kwargs)
        if not settings.oidc_client_secret:
            kwargs["token_endpoint_auth_method"] = "none"  # a public client; PKCE guards it
        oidc = registry.register("oidc", client_id=settings.oidc_client_id,
                                 client_secret=settings.oidc_client_secret,
                                 server_metadata_url=settings.oidc_discovery_url,
                                 client_kwargs=kwargs)
        providers["oidc"] = Provider("oidc", settings.oidc_provider_name, oidc)
    elif settings.oidc_discovery_url or settings.oidc_client_id:
        log.warning("OpenID Connect sign-in is off: set both OIDC_DISCOVERY_URL and "
                    "OIDC_CLIENT_ID (and OIDC_CLIENT_SECRET for a confidential client)")
    return providers


def _load_user(user_id: str) -> User | None:
    """Flask-Login's loader, run once per request: the user only while their server-side
    session stands. A "remember me" cookie restores no session token, so it never signs
    anyone in on its own. The JSON API ignores the session: bearer tokens only there."""
    if api_auth.is_api_request():
        return None  # not a failed session: keep it, the browser's pages stay signed in
    settings = current_app.config["ABACUS"]
    user = session_user(user_id, session.get(SESSION_TOKEN_KEY),
                        allowed_domains=settings.allowed_domains,
                        max_age=timedelta(hours=settings.session_max_age_hours),
                        idle=timedelta(hours=settings.session_idle_hours))
    if user is None:
        for key in LOGIN_KEYS:
            session.pop(key, None)
        return user
    # ABACUS_ADMINS (and ABACUS_FINANCE) apply at sign-in; an address added since (a restart
    # with the new setting) counts at the next request. One listed at sign-in and then made a
    # member in Admin → People stays a member until they sign in again.
    listed = user.email in settings.admins or user.email in settings.finance
    if session.get(LISTED_ADMIN_KEY) != listed:
        if listed and grant_configured_roles(user, settings.admins, settings.finance):
            db.session.commit()
        session[LISTED_ADMIN_KEY] = listed
    return user


def _sign_in_user(user: User) -> None:
    session.clear()  # a fresh session for the new identity (no session fixation)
    login_user(user)
    session[SESSION_TOKEN_KEY] = start_session(user)
    session[LISTED_ADMIN_KEY] = user.email in current_app.config["ABACUS"].admins


def providers() -> list[Provider]:
    """The identity providers configured for the current app, in button order."""
    return list(current_app.extensions[EXTENSION_KEY].values())


def _provider(name: str) -> Provider:
    provider = current_app.extensions[EXTENSION_KEY].get(name)
    if provider is None:
        abort(404)
    return provider


@bp.before_app_request
def _require_sign_in() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    # Unknown URLs (endpoint None) fall through to the 404 page, which reveals nothing.
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if api_auth.is_api_request():
        return api_auth.unauthorized()
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
    return _sign_in_page(next_url)


def _sign_in_page(next_url: str | None, error: str | None = None,
                  status: int = 200) -> ResponseReturnValue:
    settings = current_app.config["ABACUS"]
    return render_template("auth/sign_in.html", next_url=next_url, error=error,
                           providers=providers(), dev_login=_dev_login_enabled(),
                           sign_in_open=bool(settings.allowed_domains),
                           closed_message=CLOSED_MESSAGE, callback_url=callback_url), status


@bp.get("/login/<provider>")
def login(provider: str) -> ResponseReturnValue:
    """Send the browser to the provider; Authlib keeps state, nonce and the PKCE verifier in
    the session for the callback to check."""
    chosen = _provider(provider)
    next_url = safe_next(request.args.get("next"))
    if not current_app.config["ABACUS"].allowed_domains:
        return _sign_in_page(next_url, CLOSED_MESSAGE, 403)  # no point visiting the provider
    session.pop(NEXT_KEY, None)
    if next_url:
        session[NEXT_KEY] = next_url
    try:
        return chosen.client.authorize_redirect(callback_url(chosen.name),
                                                **chosen.authorize_params)
    except (requests.RequestException, AuthlibBaseError, ValueError, RuntimeError):
        # Discovery failed: the provider is down, or the discovery URL is wrong.
        log.warning("sign-in with %s: provider discovery failed", chosen.name, exc_info=True)
        return _sign_in_page(next_url, f"{chosen.label} cannot be reached right now. Try "
                             "again in a moment.", 502)


def callback_url(provider: str) -> str:
    """The redirect URI to register with a provider (shown on the unconfigured sign-in page).

    Production runs behind HTTPS (its cookies are Secure-only), often with TLS ended at a
    proxy: the URI is https there even when the request reached the app as plain http.
    """
    scheme = "https" if current_app.config["ABACUS"].env == "production" else request.scheme
    return url_for("auth.callback", provider=provider, _external=True, _scheme=scheme)


@bp.get("/callback/<provider>")
def callback(provider: str) -> ResponseReturnValue:
    chosen = _provider(provider)
    settings = current_app.config["ABACUS"]
    next_url = safe_next(session.pop(NEXT_KEY, None))
    try:
        claims = _verified_claims(chosen)
        email = admitted_email(claims, settings.allowed_domains,
                               hosted_domain_required=chosen.hosted_domain_required)
    except SignInRefused as refused:
        log.info("sign-in with %s refused: %s", chosen.name, refused)
        return _sign_in_page(next_url, str(refused), 403)
    except requests.RequestException:
        log.warning("sign-in with %s: provider request failed", chosen.name, exc_info=True)
        return _sign_in_page(next_url, f"{chosen.label} cannot be reached right now. Try "
                             "again in a moment.", 502)

    name = claims.get("name")
    try:
        user = record_sign_in(email, settings.admins, name if isinstance(name, str) else None,
                              finance=settings.finance)
    except SignInRefused as refused:
        log.info("sign-in with %s refused: %s", chosen.name, refused)
        return _sign_in_page(next_url, str(refused), 403)
    _sign_in_user(user)
    log.info("signed in %s with %s", email, chosen.name)
    return redirect(next_url or url_for("dashboard.index"), code=303)


def _verified_claims(provider: Provider) -> dict[str, object]:
    """The ID token's claims once Authlib has checked state, exchanged the code (with the PKCE
    verifier) and validated the token's signature, issuer, audience, expiry and nonce."""
    label = provider.label
    try:
        token = provider.client.authorize_access_token()
    except MismatchingStateError:
        # A replayed or forged callback, or one from a sign-in started in another browser.
        raise SignInRefused("This sign-in link has expired or was already used. Start "
                            "again.") from None
    except OAuthError as exc:
        if exc.error == "access_denied":
            raise SignInRefused(f"Sign-in was cancelled at {label}.") from None
        raise SignInRefused(f"{label} did not complete the sign-in ({exc.error}). Try "
                            "again.") from None
    except (AuthlibBaseError, JoseError, ValueError, KeyError) as exc:
        log.warning("sign-in with %s: invalid answer: %r", provider.name, exc)
        raise SignInRefused(f"The answer from {label} could not be verified. Try "
                            "again.") from None
    claims = token.get("userinfo")
    if not claims:
        raise SignInRefused(f"{label} did not send an ID token; it must be an OpenID Connect "
                            "provider.")
    claims = dict(claims)
    if "email" not in claims:
        # Some providers keep the e-mail out of the ID token; ask the userinfo endpoint, and
        # only believe it about the same subject.
        info = provider.client.userinfo(token=token)
        if info.get("sub") == claims.get("sub"):
            claims.update({k: v for k, v in info.items() if k in ("email", "email_verified",
                                                                    "name", "hd")})
    return claims


@bp.route("/dev-login", methods=["GET", "POST"])
def dev_login() -> ResponseReturnValue:
    if not _dev_login_enabled():
        abort(404)
    next_url = safe_next(request.values.get("next"))
    # "Sign in as admin" is ticked while nobody is an admin yet: the first person in after
    # `make run` can set everything up. Development only (this view is 404 elsewhere).
    if request.method == "GET":
        return render_template("auth/dev_login.html", next_url=next_url, email="", error=None,
                               dev_banner=True, as_admin=_nobody_is_admin())

    email = request.form.get("email", "").strip().lower()
    as_admin = request.form.get("as_admin") == "1"
    settings = current_app.config["ABACUS"]
    error, status = _check_email(email, settings.allowed_domains)
    if error:
        return render_template("auth/dev_login.html", next_url=next_url, email=email,
                               error=error, dev_banner=True, as_admin=as_admin), status

    try:
        user = record_sign_in(email, (*settings.admins, *([email] if as_admin else [])),
                              finance=settings.finance)
    except SignInRefused as refused:
        return render_template("auth/dev_login.html", next_url=next_url, email=email,
                               error=str(refused), dev_banner=True, as_admin=as_admin), 403
    _sign_in_user(user)
    session[DEV_SESSION_FLAG] = True
    return redirect(next_url or url_for("dashboard.index"), code=303)


def _nobody_is_admin() -> bool:
    """Whether to tick "Sign in as admin"; unticked when the database cannot say (the form
    still shows, and signing in then says the database is down)."""
    try:
        return not has_admin()
    except DATABASE_ERRORS:
        try:
            db.session.rollback()
        except DATABASE_ERRORS:
            db.session().invalidate()
        return False


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
    end_session(session.get(SESSION_TOKEN_KEY))
    logout_user()
    session.clear()
    return redirect(url_for("auth.sign_in"), code=303)


# What the JSON API says for errors the pages explain in prose.
API_ERRORS = {403: "This token's role may not read this.", 404: "No such API route.",
              405: "The API is read-only: only GET is allowed.",
              500: "Something went wrong; the error has been logged."}


def _register_error_pages(app: Flask) -> None:
    """Friendly pages for the errors a user can meet; the same template for all of them."""

    def render(code: int, title: str, message: str, **extra) -> ResponseReturnValue:
        if api_auth.is_api_request():  # never an HTML page under /api/v1
            return api_auth.error_response(code, API_ERRORS.get(code, title))
        if request.accept_mimetypes.best == "application/json":
            return jsonify(error=title), code
        return render_template("errors/error.html", code=code, title=title,
                               message=message, **extra), code

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

    @app.errorhandler(405)
    def method_not_allowed(exc: HTTPException) -> ResponseReturnValue:
        if api_auth.is_api_request():
            allowed = ", ".join(getattr(exc, "valid_methods", None) or ["GET"])
            return api_auth.error_response(405, API_ERRORS[405], headers={"Allow": allowed})
        # Mostly a reload (or a bookmark) of an address that only takes a form: say so and
        # link to the page the form lives on.
        body, code = render(405, "This address takes a form, not a visit",
                            "It only answers a submitted form, which a reload cannot repeat. "
                            "Open the page again and submit the form from there.",
                            back=page_for(request.path))
        allowed = getattr(exc, "valid_methods", None) or []
        return body, code, {"Allow": ", ".join(allowed)} if allowed else {}

    @app.errorhandler(HTTPException)
    def other_http_error(exc: HTTPException) -> ResponseReturnValue:
        """Errors without a page of their own keep Werkzeug's answer, but as JSON under
        the API."""
        if api_auth.is_api_request() and exc.code:
            return api_auth.error_response(exc.code, exc.description or exc.name)
        return exc

    @app.errorhandler(DATABASE_ERRORS)
    def database_error(exc: Exception) -> ResponseReturnValue:
        log.exception("database error during %s %s", request.method, request.path)
        return render(*database_error_page(exc))

    @app.errorhandler(500)
    def server_error(exc: Exception) -> ResponseReturnValue:
        return render(500, "Something went wrong",
                      "The error has been logged. Try again in a moment.")
