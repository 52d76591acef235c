"""Blueprints. Views stay thin: parse, authorize, call a service, render."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import auth, dashboard, filters, health

    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    auth.init_app(app)
    filters.init_app(app)
