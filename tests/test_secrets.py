"""Secrets hardening: production refuses guessable keys and tokens, credentials survive a
SECRET_KEY rotation, a new base URL or proxy needs the credentials again, proxy passwords are
encrypted and never shown, and a host's response body never reaches the Status page."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from rq import SimpleWorker
from sqlalchemy import select

from abacus import create_app
from abacus.config import ConfigError
from abacus.extensions import db, queue, redis_connection
from abacus.models import Account
from abacus.providers.http import HttpSettings
from abacus.providers.testing import FakeServer, Reply
from abacus.sync import accounts as accounts_service
from tests.test_admin import ADMIN_KEY, notice_after, post, sign_in, text_of

ROOT = Path(__file__).resolve().parent.parent
STRONG = secrets.token_hex(32)
PRODUCTION = {"ABACUS_ENV": "production", "ABACUS_DEV_LOGIN": "0",
              "GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "s", "SECRET_KEY": STRONG}


@pytest.fixture
def admin(client):
    return sign_in(client)


def _env_example_secret_key() -> str:
    line = next(x for x in (ROOT / ".env.example").read_text().splitlines()
                if x.startswith("SECRET_KEY="))
    return line.split("=", 1)[1]


# --- item 3: production keys and tokens ----------------------------------------------------

@pytest.mark.parametrize("name, value, why", [
    ("SECRET_KEY", _env_example_secret_key(), "placeholder"),
    ("SECRET_KEY", "ab" * 20, "too little randomness"),
    ("SECRET_KEY", "Kq8#v2Lm9!", "too short"),
    ("METRICS_TOKEN", "Zq9", "too short"),
    ("CRON_SECRET", "c" * 40, "too little randomness"),
    ("CRON_SECRET", "please-change-me-to-a-random-token-now", "placeholder"),
    ("ABACUS_ENCRYPTION_KEY", "not-a-fernet-key-but-long-enough-0123456789",
     "key 1 is not a Fernet key"),
])
def test_production_refuses_guessable_secrets_naming_the_setting_not_the_value(
        app_env, name, value, why):
    with pytest.raises(ConfigError) as info:
        create_app({**app_env, **PRODUCTION, name: value}, dotenv=False)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and why in message
    assert value not in message


def test_weak_values_still_work_outside_production_and_strong_ones_in_production(
        make_app):
    dev = make_app(SECRET_KEY="dev", METRICS_TOKEN="m", CRON_SECRET="c")
    assert dev.config["ABACUS"].metrics_token == "m"
    prod = make_app(**PRODUCTION, METRICS_TOKEN=secrets.token_urlsafe(32),
                    CRON_SECRET=secrets.token_hex(16),
                    ABACUS_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert prod.config["ABACUS"].env == "production"
    # The metrics endpoint answers its (strong) token only.
    token = prod.config["ABACUS"].metrics_token
    client = prod.test_client()
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}) \
        .status_code == 200
    assert client.get("/metrics", headers={"Authorization": "Bearer m"}).status_code != 200


def test_rotating_secret_key_keeps_credentials_after_moving_to_an_encryption_key(
        make_app, caplog, monkeypatch):
    # Alembic's logging set-up (the test database's migrations) disables existing loggers.
    monkeypatch.setattr(logging.getLogger("abacus.sync.accounts"), "disabled", False)
    old_secret, new_secret = secrets.token_hex(32), secrets.token_hex(32)
    key = Fernet.generate_key().decode()
    first = make_app(SECRET_KEY=old_secret)
    with first.app_context():
        accounts_service.add_account("anthropic", "org", {"admin_key": ADMIN_KEY})
        db.session.commit()
        # Start-up warns: these credentials die with SECRET_KEY.
        with caplog.at_level(logging.WARNING, logger="abacus.sync.accounts"):
            accounts_service.bootstrap_at_start()
        assert "1 account(s) have credentials encrypted with a key derived from SECRET_KEY" \
            in caplog.text and "set ABACUS_ENCRYPTION_KEY" in caplog.text
        assert ADMIN_KEY not in caplog.text
    # The documented path: set ABACUS_ENCRYPTION_KEY, rotate, then change SECRET_KEY.
    with_key = make_app(SECRET_KEY=old_secret, ABACUS_ENCRYPTION_KEY=key)
    result = with_key.test_cli_runner().invoke(args=["abacus", "accounts", "rotate-key"])
    assert result.exit_code == 0 and "1 account(s) re-encrypted" in result.output
    with with_key.app_context():
        assert accounts_service.derived_key_warning() is None
    rotated = make_app(SECRET_KEY=new_secret, ABACUS_ENCRYPTION_KEY=key)
    with rotated.app_context():
        account = accounts_service.find_account("org")
        assert accounts_service.decrypt_credentials(account) == {"admin_key": ADMIN_KEY}
    # Without the encryption key the new SECRET_KEY cannot read them (why the warning).
    lost = make_app(SECRET_KEY=new_secret)
    with lost.app_context(), pytest.raises(accounts_service.CredentialsUnreadable):
        accounts_service.decrypt_credentials(accounts_service.find_account("org"))


# --- item 4: a new destination needs the credentials again ---------------------------------

def _add_anthropic(app, client, admin, **settings) -> int:
    notice_after(client, post(client, "/admin/accounts", admin, provider="anthropic",
                              name="org", credential_admin_key=ADMIN_KEY, **settings))
    with app.app_context():
        return db.session.execute(select(Account.id)).scalar_one()


@pytest.mark.parametrize("field, value", [
    ("base_url", "http://collector.example:8080"),
    ("proxy_url", "http://collector.example:3128"),
])
def test_a_new_base_url_or_proxy_needs_the_credentials_again(app, client, admin, field, value):
    account_id = _add_anthropic(app, client, admin)
    url = f"/admin/accounts/{account_id}/settings"
    refused = post(client, url, admin, **{field: value})
    assert refused.status_code == 400
    assert "needs its credentials entered again" in text_of(refused)
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert field not in account.settings  # nothing stored: the key stays where it was
        assert accounts_service.decrypt_credentials(account) == {"admin_key": ADMIN_KEY}
    new_key = "sk-ant-admin01-" + "R33nt3r3d" * 4
    page = notice_after(client, post(client, url, admin, credential_admin_key=new_key,
                                     **{field: value}))
    assert "Saved the settings and its credentials of “org”" in page
    assert "R33nt3r3d" not in page
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert account.settings[field] == value
        assert accounts_service.decrypt_credentials(account) == {"admin_key": new_key}


def test_an_environment_key_never_follows_an_admin_set_base_url(make_app):
    env_key = "sk-ant-admin01-" + "Fr0mTh3Env" * 4
    app = make_app(ANTHROPIC_ADMIN_KEYS=f"main={env_key}")
    with app.app_context():
        accounts_service.ensure_env_accounts()
        account = accounts_service.find_account("main")
        # An admin points it elsewhere with a key of their own...
        accounts_service.update_settings(account, {"base_url": "http://collector.example"},
                                         {"admin_key": "sk-ant-admin01-mine"})
        db.session.commit()
        # ...the next start-up restores the environment's key, and only for the default API.
        accounts_service.ensure_env_accounts()
        account = accounts_service.find_account("main")
        assert accounts_service.decrypt_credentials(account) == {"admin_key": env_key}
        assert "base_url" not in account.settings
        assert accounts_service.account_config(account).base_url == "https://api.anthropic.com"


class _Internal(FakeServer):
    """Some internal service an account's base URL was pointed at: it answers every request
    with its own error body, holding data nobody outside should read."""

    def __init__(self, reply: Reply):
        super().__init__()
        self.reply = reply

    def not_found(self, request):
        return self.reply


@pytest.mark.parametrize("reply, shown", [
    (Reply(400, {"type": "error", "error": {"type": "invalid_request_error",
                                             "message": "INTERNAL-db-password=hunter2"}}),
     "HTTP 400 (invalid_request_error)"),
    (Reply(403, {"message": "INTERNAL-db-password=hunter2", "code": "denied"}),
     "HTTP 403 (denied)"),
    (Reply(404, {"error": "INTERNAL-db-password=hunter2 for user root"}), "HTTP 404"),
    (Reply(200, "<html>INTERNAL-db-password=hunter2</html>",
           content_type="text/INTERNAL-db-password=hunter2"), "expected JSON"),
])
def test_a_hosts_response_body_never_reaches_the_status_page(app, client, admin, reply, shown,
                                                              monkeypatch):
    monkeypatch.setattr(HttpSettings, "retries", 0)
    with _Internal(reply) as internal:
        _add_anthropic(app, client, admin, base_url=internal.url)
        response = post(client, "/admin/sync", admin, account="org", kind="sync")
        assert response.status_code == 303
        with app.app_context():
            SimpleWorker([queue()], connection=redis_connection()).work(burst=True)
            db.session.remove()
        assert internal.requests  # the sync did reach the host
    status = client.get("/status").get_data(as_text=True)
    assert shown in status
    assert "INTERNAL" not in status and "hunter2" not in status
    with app.app_context():
        account = db.session.execute(select(Account)).scalar_one()
        assert shown in account.last_error
        assert "hunter2" not in account.last_error


# --- item 5: proxy passwords ---------------------------------------------------------------

PROXY = "http://proxyuser:Pr0xyS3cret@proxy.internal:3128"


def test_proxy_password_is_encrypted_masked_and_still_used(app, client, admin):
    account_id = _add_anthropic(app, client, admin, proxy_url=PROXY)
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert "Pr0xyS3cret" not in str(account.settings)
        assert b"Pr0xyS3cret" not in account.credentials_encrypted
        assert accounts_service.decrypt_credentials(account) == {"admin_key": ADMIN_KEY}
        assert accounts_service.account_config(account).proxy_url == PROXY
    for url in ("/admin/accounts", f"/admin/accounts/{account_id}", "/status"):
        body = client.get(url).get_data(as_text=True)
        assert "Pr0xyS3cret" not in body, url
    assert "proxyuser:••••@proxy.internal:3128" in text_of(
        client.get(f"/admin/accounts/{account_id}"))
    # Replacing the credentials keeps the proxy password; removing the proxy drops it.
    notice_after(client, post(client, f"/admin/accounts/{account_id}/credentials", admin,
                              credential_admin_key=ADMIN_KEY))
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert accounts_service.account_config(account).proxy_url == PROXY
    notice_after(client, post(client, f"/admin/accounts/{account_id}/settings", admin,
                              clear_proxy_url="1"))
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert accounts_service.account_config(account).proxy_url is None
        assert accounts_service._read_secrets(account) == {"admin_key": ADMIN_KEY}


@pytest.mark.parametrize("proxy", [
    "proxy.internal:3128:Pr0xyS3cret",
    "http://proxyuser:Pr0xyS3cret@proxy.internal:port",
    "ftp://proxyuser:Pr0xyS3cret@proxy.internal:21",
])
def test_a_malformed_proxy_url_is_refused_without_echoing_its_password(app, client, admin,
                                                                        proxy):
    response = post(client, "/admin/accounts", admin, provider="anthropic", name="org",
                    credential_admin_key=ADMIN_KEY, proxy_url=proxy)
    assert response.status_code == 400
    assert "Proxy URL: expected a URL like http://host:port" in text_of(response)
    assert "Pr0xyS3cret" not in response.get_data(as_text=True)
    account_id = _add_anthropic(app, client, admin)
    response = post(client, f"/admin/accounts/{account_id}/settings", admin,
                    credential_admin_key=ADMIN_KEY, proxy_url=proxy)
    assert response.status_code == 400
    assert "Pr0xyS3cret" not in response.get_data(as_text=True)


def test_a_stored_plain_text_proxy_password_moves_into_the_credentials_at_start(app, client,
                                                                               admin):
    with app.app_context():
        account = accounts_service.add_account("anthropic", "legacy", {"admin_key": ADMIN_KEY})
        account.settings = {"proxy_url": PROXY}  # as rows written before this change
        db.session.commit()
        account_id = account.id
        assert accounts_service.account_config(account).proxy_url == PROXY  # read as is
        accounts_service.bootstrap_at_start()
        account = db.session.get(Account, account_id)
        assert account.settings == {"proxy_url": "http://proxyuser:****@proxy.internal:3128"}
        assert accounts_service.account_config(account).proxy_url == PROXY
        assert accounts_service.decrypt_credentials(account) == {"admin_key": ADMIN_KEY}
        accounts_service.bootstrap_at_start()  # idempotent
        assert accounts_service.account_config(
            db.session.get(Account, account_id)).proxy_url == PROXY
