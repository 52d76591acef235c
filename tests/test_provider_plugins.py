"""Third-party providers: found through the `abacus.providers` entry point group, checked
with `abacus.providers.testing`, and synced by the engine like the built-ins."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from abacus import providers as registry
from abacus.providers.base import AccountConfig, Page, Provider, UsageRecord, Window
from abacus.providers.testing import FakeServer, Reply, check_provider, record_problems

PLUGIN = textwrap.dedent('''
    from datetime import datetime

    from abacus.providers.base import Capabilities, CredentialField, Page, Provider, UsageRecord
    from abacus.providers.http import make_session, request
    from abacus.providers.units import cents_to_usd


    class AcmeProvider(Provider):
        id = "acme"
        display_name = "Acme Code"
        tool = "acme_code"
        capabilities = Capabilities(token_usage=True, actual_costs=True)
        credential_fields = (CredentialField("api_key", "Acme admin key"),)
        schedule = "*/20 * * * *"

        def fetch(self, account, window, cursor=None):
            session = make_session(headers={"Authorization": "Bearer "
                                            + account.credentials["api_key"]})
            body = request(session, "GET", account.base_url + "/v1/usage", "Acme /v1/usage",
                           params={"from": window.start.isoformat()})
            yield Page([UsageRecord(event_key=i["id"],
                                    occurred_at=datetime.fromisoformat(i["time"]),
                                    tool=self.tool, actor=i["user"], raw_model=i["model"],
                                    input_tokens=i["in"], output_tokens=i["out"],
                                    cost_usd=cents_to_usd(i["cents"], "Acme cents"))
                        for i in body["data"]])
''')

WINDOW = Window(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC))


class FakeAcme(FakeServer):
    def __init__(self):
        super().__init__()
        self.rows = [{"id": "e1", "time": "2026-05-01T10:00:00+00:00", "user": "a@example.com",
                      "model": "acme-1", "in": 10, "out": 5, "cents": 12}]
        self.route("GET", "/v1/usage", lambda req: Reply(200, {"data": self.rows}))


@pytest.fixture
def acme_plugin(tmp_path, monkeypatch):
    """An installed distribution declaring the entry point, as `pip install` leaves it."""
    (tmp_path / "acme_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "acme_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[abacus.providers]\nacme = acme_plugin:AcmeProvider\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.providers.cache_clear()
    yield
    registry.providers.cache_clear()
    sys.modules.pop("acme_plugin", None)


def test_entry_point_provider_is_registered_beside_the_builtins(acme_plugin):
    provider = registry.get_provider("acme")
    assert provider.display_name == "Acme Code"
    assert {"anthropic", "cursor", "cursor_session", "acme"} <= set(registry.providers())
    with pytest.raises(registry.UnknownProvider, match="known: acme, anthropic"):
        registry.get_provider("nope")


def test_plugin_accounts_sync_and_get_their_own_schedule(acme_plugin, ctx):
    from sqlalchemy import func, select

    from abacus.extensions import db
    from abacus.jobs import schedules
    from abacus.models import UsageEvent
    from abacus.sync import accounts
    from abacus.sync.engine import sync_account

    crons = {s.id: s.cron for s in schedules(ctx.config["ABACUS"])}
    assert crons["abacus-schedule-sync-acme"] == "*/20 * * * *"
    with FakeAcme() as fake:
        account = accounts.add_account("acme", "acme-main", {"api_key": "k"},
                                       {"base_url": fake.url})
        db.session.commit()
        outcome = sync_account(account.id, first=WINDOW.start.date(), last=WINDOW.start.date())
    assert outcome.status == "success", outcome.message
    assert db.session.execute(select(func.sum(UsageEvent.cost_usd))).scalar() == \
        Decimal("0.12")


def test_check_provider_accepts_a_good_provider_and_names_what_is_wrong(acme_plugin):
    provider = registry.get_provider("acme")
    with FakeAcme() as fake:
        account = AccountConfig("t", {"api_key": "k"}, fake.url)
        (record,) = check_provider(provider, account, WINDOW)
        assert record.cost_usd == Decimal("0.12")
        fake.rows.append(dict(fake.rows[0]))  # the same row twice: a page read twice
        fake.rows.append({**fake.rows[0], "id": "e3", "time": "2026-04-30T10:00:00+00:00"})
        with pytest.raises(AssertionError) as err:
            check_provider(provider, account, WINDOW)
    assert "exact duplicate" in str(err.value)
    assert "outside the window" in str(err.value)


def test_record_problems_flags_float_money_and_bad_extras():
    class Loose(Provider):
        id, display_name, tool = "loose", "Loose", "loose"

        def fetch(self, account, window, cursor=None):
            yield Page([])

    bad = UsageRecord(event_key="k", occurred_at=WINDOW.start, tool="other", actor="",
                      raw_model="m", cost_usd=0.5, extras={"at": object()})
    problems = " | ".join(record_problems(Loose(), WINDOW, [bad]))
    assert "tool 'other'" in problems
    assert "cost_usd must be a non-negative Decimal" in problems
    assert "empty actor" in problems
    assert "not JSON-serializable" in problems
