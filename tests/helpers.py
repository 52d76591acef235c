"""Helpers the server-side tests share: seed usage through ingest, sign in, run `flask abacus`."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from abacus.extensions import db
from abacus.models import Account, Team, TeamMembership
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


def invoke(runner, *args: str, env: dict | None = None):
    """Run `flask abacus ARGS`; the session is expired so later reads see what it wrote."""
    result = runner.invoke(args=["abacus", *args], env=env)
    db.session.expire_all()
    return result


def key_file(ctx, key: str, name: str = "key") -> str:
    """Write `key` to a file in the instance folder (as `--key-file` reads it); its path."""
    path = Path(ctx.instance_path) / name
    path.write_text(key + "\n")
    return str(path)


def add_key_account(ctx, runner, provider: str, name: str, key: str, base_url: str,
                    *extra: str) -> Account:
    """`flask abacus accounts add PROVIDER --name NAME --key-file …`, asserted to succeed."""
    result = invoke(runner, "accounts", "add", provider, "--name", name, "--key-file",
                    key_file(ctx, key, f"{provider}-key"), "--base-url", base_url, *extra)
    assert result.exit_code == 0, result.output
    return db.session.execute(select(Account).where(Account.name == name)).scalar_one()


def seed_teams(*members: tuple[str, str] | tuple[str, str, dict[str, Any]]) -> dict[str, Team]:
    """Platform ⊃ Payments, and Sales elsewhere, with `members` as (team name, person) or
    (team name, person, more TeamMembership fields), each a member since 400 days ago.
    Runs in the caller's app context and commits."""
    platform = Team(name="Platform")
    db.session.add(platform)
    db.session.flush()
    teams = {"Platform": platform, "Payments": Team(name="Payments", parent_id=platform.id),
             "Sales": Team(name="Sales")}
    db.session.add_all([teams["Payments"], teams["Sales"]])
    db.session.flush()
    since = date.today() - timedelta(days=400)
    db.session.add_all([TeamMembership(team_id=teams[m[0]].id, person=m[1], valid_from=since,
                                       **(m[2] if len(m) > 2 else {}))
                        for m in members])
    db.session.commit()
    return teams
