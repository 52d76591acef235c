"""Status tells the truth (issue 19): imports count as successful updates, a CSV-fed account
shows its last import, GitHub repositories say what is missing instead of staying "pending",
members are not told to press buttons they lack, and a connection error names the host."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from flask import Flask

from abacus.extensions import db
from abacus.models import Account, Repository
from abacus.providers.base import ProviderError
from abacus.providers.http import make_session, send
from abacus.usage.imports import import_cursor_csv
from tests.test_import_cursor_csv import VARIANTS, variant_rows, write_csv
from tests.test_status_page import ADMIN, MEMBER, account, article
from tests.test_web import sign_in, text_of

pytestmark = pytest.mark.http_retries(0)


def test_a_csv_import_is_a_successful_update_shown_on_the_account(app, client, tmp_path):
    header = VARIANTS["v3-team"]
    path = write_csv(tmp_path / "march-export.csv", header, variant_rows(header))
    with app.app_context():
        import_cursor_csv(path, account_name="cursor-csv")
        row = db.session.query(Account).filter_by(name="cursor-csv").one()
        assert row.last_success_at is not None  # the account itself records it
        # An import from before this was recorded still counts (read from the runs).
        row.last_success_at = None
        db.session.commit()
        db.session.remove()
    sign_in(client, MEMBER)
    response = client.get("/status")
    page = text_of(response)
    assert "no account has synced" not in page
    assert "syncs and CSV imports" in page
    card = article(response, "cursor-csv")
    assert "Last success just now" in card
    assert "last import just now (march-export.csv)" in card


def test_repositories_without_the_github_api_say_what_is_missing(app, client, make_app):
    with app.app_context():
        db.session.add(Repository(source="github", full_name="acme/api",
                                  backfill_status="pending"))
        db.session.commit()
        db.session.remove()
    webhook_only = make_app(GITHUB_WEBHOOK_SECRET="w" * 40)
    other = webhook_only.test_client()
    sign_in(other, ADMIN)
    page = text_of(other.get("/status"))
    assert "acme/api webhook only" in page
    assert "GITHUB_TOKEN (or a GitHub App) is not set: the history backfill" in page
    configured = make_app(GITHUB_WEBHOOK_SECRET="w" * 40, GITHUB_TOKEN="t" * 40)
    third = configured.test_client()
    sign_in(third, ADMIN)
    page = text_of(third.get("/status"))
    assert "acme/api pending" in page and "is not set" not in page


def test_members_are_not_told_to_press_buttons_they_lack(app):
    with app.app_context():
        account("broken", status="error", last_error="Cursor usage events: could not "
                "connect to api.cursor.test", last_error_at=datetime.now(UTC))
        account("refused", status="auth_expired", status_detail="key refused")
        db.session.commit()
        db.session.remove()
    as_member, as_admin = app.test_client(), app.test_client()
    sign_in(as_member, MEMBER)
    sign_in(as_admin, ADMIN)
    member_page, admin_page = text_of(as_member.get("/status")), text_of(as_admin.get("/status"))
    for sentence in ("press Sync now", "Replace its credentials under Admin",
                     "accounts set-credentials"):
        assert sentence in admin_page
        assert sentence not in member_page
    assert "An admin has to fix the cause" in member_page
    assert "Syncing is paused until an admin replaces its credentials" in member_page
    assert "could not connect to api.cursor.test" in member_page


@pytest.mark.parametrize("url, host", [
    ("http://127.0.0.1:{port}/teams/filtered-usage-events?key=secret", "127.0.0.1:{port}"),
    ("http://user:hunter2@127.0.0.1:{port}/x", "127.0.0.1:{port}"),
])
def test_a_connection_error_names_the_host_and_nothing_secret(url, host):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProviderError) as raised:
        send(make_session(), "GET", url.format(port=port), "Cursor usage events")
    message = str(raised.value)
    assert message == f"Cursor usage events: could not connect to {host.format(port=port)}"
    assert "secret" not in message and "hunter2" not in message and "/teams" not in message


def test_the_failed_sync_stores_the_host(app: Flask, runner):
    from tests.helpers import add_key_account, invoke

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with app.app_context():
        add_key_account(app, runner, "cursor", "team", "key_" + "a" * 40,
                        f"http://127.0.0.1:{port}")
        result = invoke(runner, "sync", "cursor", "--account", "team")
        assert result.exit_code == 1
        assert f"could not connect to 127.0.0.1:{port}" in result.output
        row = db.session.query(Account).filter_by(name="team").one()
        assert f"could not connect to 127.0.0.1:{port}" in (row.last_error or "")
        db.session.remove()
