"""Notification channels: every alert (budgets, anomalies, accounts) goes out through Apprise
URLs (Slack, Microsoft Teams, Discord, `mailto://` SMTP, `json://` webhooks, …).

May import: apprise, config (through the app's settings). Imported by services (sync,
budgets) and faces; it never touches the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import apprise

log = logging.getLogger("abacus.notify")


class BadChannel(ValueError):
    """An Apprise URL that no plugin understands; the message never repeats the URL (it may
    carry a token), only its position and scheme."""


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "(no scheme)"


def check_urls(urls: Iterable[str], where: str) -> list[str]:
    """The URLs, stripped, each one Apprise can send to; BadChannel names the one that is not."""
    out = []
    for i, url in enumerate((u.strip() for u in urls), start=1):
        if not url:
            continue
        if apprise.Apprise().add(url) is False:
            raise BadChannel(f"{where}: URL {i} ({_scheme(url)}://…) is not an Apprise URL "
                             "Abacus can send to")
        out.append(url)
    return out


def send(urls: Iterable[str], title: str, body: str) -> int:
    """Send to every URL; returns how many took it. A failing channel is logged (by scheme
    only: URLs hold tokens) and never raises, so an alert never fails a sync."""
    delivered = 0
    for url in urls:
        channel = apprise.Apprise()
        if not channel.add(url):
            log.error("alert channel %s:// is not a valid Apprise URL", _scheme(url))
            continue
        try:
            ok = channel.notify(title=title, body=body)
        except Exception as exc:  # a plugin bug must not fail the caller either
            log.error("alert channel %s:// failed: %s", _scheme(url), type(exc).__name__)
            continue
        if ok:
            delivered += 1
        else:
            log.error("alert channel %s:// did not accept the alert", _scheme(url))
    return delivered


def global_urls() -> tuple[str, ...]:
    """ABACUS_ALERT_URLS: every alert without channels of its own goes there."""
    from flask import current_app

    return tuple(current_app.config["ABACUS"].alert_urls)


def page_link(path: str) -> str:
    """An absolute link to a page when ABACUS_PUBLIC_URL is set, else the path."""
    from flask import current_app

    base = current_app.config["ABACUS"].public_url
    return f"{base}{path}" if base else path
