"""Wires the web face into the app: every area's blueprint, the template helpers, the
top navigation and the security headers."""

from __future__ import annotations

import importlib

from flask import Flask, Response, current_app, request
from flask_login import current_user

# Top navigation: (label, endpoint, who sees it: None everyone, "figures" admins and
# finance, "admin" admins). An entry shows once its blueprint exists.
NAV = (
    ("Overview", "dashboard.index", None),
    ("Team", "team.index", None),
    ("Usage", "usage.index", None),
    ("Commits", "commits.index", None),
    ("Seats", "seats.index", "figures"),
    ("Chargeback", "chargeback.index", "figures"),
    ("Budgets", "budgets.index", None),
    ("Incidents", "incidents.index", None),
    ("Status", "status.index", None),
    ("Admin", "admin.index", "admin"),
)

# One module per area; a module missing from a checkout (a page not built yet) is skipped.
BLUEPRINT_MODULES = ("health", "ops", "auth", "dashboard", "team", "people", "usage",
                     "status", "admin", "webhooks", "commits", "seats", "budgets",
                     "incidents", "api", "api_tokens", "teams", "chargeback", "otlp",
                     "ingest_tokens")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


def register_blueprints(app: Flask) -> None:
    from . import auth, filters, htmx, params, ranges, teamscope
    from .access import viewer

    for name in BLUEPRINT_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue
        app.register_blueprint(module.bp)
    auth.init_app(app)
    filters.init_app(app)
    htmx.init_app(app)
    params.init_app(app)
    ranges.init_app(app)
    teamscope.init_app(app)

    @app.context_processor
    def _navigation() -> dict:
        if not getattr(current_user, "is_authenticated", False):
            return {"nav_items": [], "viewer": None,
                    "has_endpoint": lambda name: name in current_app.view_functions}
        who = viewer()
        allowed = {None: True, "figures": who.sees_all_figures, "admin": who.may_admin}
        items = [(label, endpoint) for label, endpoint, need in NAV
                 if endpoint in current_app.view_functions and allowed[need]]
        return {"nav_items": items, "viewer": who,
                "has_endpoint": lambda name: name in current_app.view_functions}

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
