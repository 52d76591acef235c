"""Account alerts: a log line always, the ABACUS_ALERT_URLS channels (Apprise, like budget
alerts), and a JSON POST to ALERT_WEBHOOK_URL when it is set.

The status page shows a banner for every account in a bad state (it reads `accounts`), so the
banner needs nothing from here. The webhook body has a Slack-compatible `text` field plus
structured fields for other receivers. A failing webhook is logged and never fails a sync.
"""

from __future__ import annotations

import logging

import requests
from flask import current_app

from .. import notify
from ..models import Account

log = logging.getLogger("abacus.alerts")


def raise_alert(account: Account, kind: str, message: str) -> None:
    """`kind`: auth_expired | rate_limited | error | cookie_expiring."""
    text = f"Abacus: {account.provider} account '{account.name}' needs attention: {message}"
    log.warning("%s", text)
    notify.send(notify.global_urls(), f"Abacus: {account.name} needs attention",
                f"{text}\nStatus: {notify.page_link('/status')}")
    url = current_app.config["ABACUS"].alert_webhook_url
    if not url:
        return
    body = {"text": text, "kind": kind, "provider": account.provider, "account": account.name,
            "message": message}
    try:
        requests.post(url, json=body, timeout=(5, 10)).raise_for_status()
    except requests.RequestException as exc:
        # Only the exception type: the webhook URL itself is a secret (Slack tokens live in it).
        log.error("alert webhook failed: %s", type(exc).__name__)
