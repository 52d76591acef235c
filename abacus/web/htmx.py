"""HTMX conventions: one URL serves the page and its fragment.

A request from htmx that is not a boosted navigation and not a history restore gets the
fragment; everything else (first load, boosted link, back button with an empty cache) gets
the full page. `Vary: HX-Request` keeps caches from mixing the two.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request


def wants_fragment() -> bool:
    h = request.headers
    return (h.get("HX-Request") == "true" and h.get("HX-Boosted") != "true"
            and h.get("HX-History-Restore-Request") != "true")


def render(page: str, fragment: str | None = None, **context) -> str:
    """The fragment template for an htmx partial request, else the full page."""
    return render_template(fragment if fragment and wants_fragment() else page, **context)


def init_app(app: Flask) -> None:
    @app.after_request
    def _vary_on_htmx(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response
