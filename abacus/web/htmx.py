"""HTMX conventions: one URL serves the page and its fragment.

A request from htmx that is not a boosted navigation and not a history restore gets the
fragment; everything else (first load, boosted link, back button with an empty cache) gets
the full page. `Vary: HX-Request` keeps caches from mixing the two.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException


def wants_fragment() -> bool:
    h = request.headers
    return (h.get("HX-Request") == "true" and h.get("HX-Boosted") != "true"
            and h.get("HX-History-Restore-Request") != "true")


def render(page: str, fragment: str | None = None, **context) -> str:
    """The fragment template for an htmx partial request, else the full page."""
    return render_template(fragment if fragment and wants_fragment() else page, **context)


def page_for(path: str) -> str | None:
    """The nearest address at or above `path` that answers GET (`/budgets/3/edit` ->
    `/budgets`), or None: where to send someone who opened a form-only address."""
    adapter = current_app.url_map.bind("")
    parts = path.rstrip("/").split("/")
    while parts:
        candidate = "/".join(parts) or "/"
        try:
            adapter.match(candidate, method="GET")
            return candidate
        except HTTPException:
            parts.pop()
    return None


def init_app(app: Flask) -> None:
    @app.after_request
    def _vary_on_htmx(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response

    @app.after_request
    def _never_push_form_only_urls(response: Response) -> Response:
        """A boosted form whose POST answers with a page (say, the form again with errors)
        would have htmx push the POST's address into history, and a reload of it would then
        ask for a page that address does not have (405). Keep the page's own address."""
        if (request.method != "GET" and request.headers.get("HX-Boosted") == "true"
                and not 300 <= response.status_code < 400 and "HX-Push-Url" not in response.headers
                and page_for(request.path) != request.path.rstrip("/")):
            response.headers["HX-Push-Url"] = "false"
        return response
