"""Helpers the server-side page tests share: seed usage through ingest, sign in."""

from __future__ import annotations

import re

from sqlalchemy import select

from abacus.extensions import db
from abacus.models import Account
from abacus.providers.base import UsageRecord
from abacus.usage.ingest import ingest


def seed(app, records: list[UsageRecord], name: str = "t", provider: str = "cursor") -> None:
    """Ingest `records` into the account `name` (created when missing)."""
    with app.app_context():
        account = db.session.execute(select(Account).where(Account.name == name)).scalar()
        if account is None:
            account = Account(provider=provider, name=name)
            db.session.add(account)
            db.session.flush()
        ingest(account, records)
        db.session.commit()


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def sign_in(client, email: str = "alice@example.com", next_url: str | None = None):
    """The development sign-in; returns its response (303 on success)."""
    form_page = client.get("/auth/dev-login").get_data(as_text=True)
    data = {"email": email, "csrf_token": csrf_token(form_page)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/auth/dev-login", data=data)
