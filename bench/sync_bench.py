"""Sync throughput at org scale against the provider fakes, pacing off: is our side ever the
bottleneck?

    python bench/sync_bench.py [--provider cursor,anthropic,copilot,openai,openrouter]
                               [--people 2000] [--days 30] [--events-per-day 2]

For each provider, serves `--people` people over `--days` days from its fake (tests/fakes, a
real HTTP server on 127.0.0.1) in the shape that provider reports:

* Cursor Admin API events (`--events-per-day` per person-day);
* Anthropic Claude Code analytics (one record per person-day, two models each);
* GitHub Copilot: a users-1-day report line per person-day, each person's AI-credit billing
  for the day (two models) and the day total, a user-teams line per person-day, the seats;
* OpenAI organization usage: completions results per (day, user, API key, model), two models
  per person-day, the day's bill per project and line item, the users and their keys;
* OpenRouter /activity: rows per (day, member, model, serving endpoint), two models per
  person-day (one in ten served by two providers), a departed member's key, the members.

Copilot and OpenRouter serve the last `--days` completed UTC days (their APIs hold nothing
newer, and OpenRouter nothing older than 30 days); the others serve from 2026-06-01. Syncs them
through the real path (`sync.sync_account`: provider, HTTP session, ingest, commit per window)
into a fresh migrated database, then syncs again (everything unchanged), and prints where the
time went and the time per account-day (one day of the whole org for one account):

    cursor first sync: 120000 events in 41.0s | fake 9.1s, ours: HTTP+parse 18.2s,
    ingest 13.7s | per account-day: ours 1.06s vs >= 12.0s the documented limit allows

"Fake" is time spent inside the fake producing pages (the stand-in for the provider); the rest
is ours ("ingest" is `ingest` itself; storing identities, seats, memberships and the bill is
counted with HTTP+parse). The documented limits (shared/providers/*.md, quoted in LIMITS):
Cursor Admin API 20 requests/min per team with up to 1000 events per page; Anthropic publishes
no number for Claude Code analytics and supports "polling once per minute for sustained use"
(a page of up to 1000 records per request); GitHub (Copilot) 5,000 requests/h per token, the
report files on signed links not counted; OpenAI publishes no number for its admin endpoints
(30 days are one page per usage type), so its line says above which rate we would be the
slower side; OpenRouter publishes none for /activity, which takes one call per member per day,
so the contract's only number (Analytics, 64 requests/min, unconfirmed) stands in. Uses
DATABASE_URL's server, else TEST_DATABASE_URL's, else the embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_bench import scratch_database  # noqa: E402

MODELS = ["claude-4.5-sonnet", "claude-4.5-sonnet-thinking", "default", "gpt-5", "gpt-5-codex",
          "claude-4.5-opus-high-thinking", "composer-1", "claude-4-sonnet"]
CLAUDE_MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-5", "claude-haiku-4-5"]
KINDS = ["Included in Business", "Usage-based", "Errored, Not Charged"]
COPILOT_MODELS = ["Claude Sonnet 4.6", "Auto: Claude Haiku 4.5", "GPT-5.1", "Gemini 3 Pro"]
COPILOT_IDES = ["vscode", "jetbrains", "visualstudio", "neovim"]
OPENAI_MODELS = ["gpt-5-codex", "gpt-5", "gpt-5-mini", "o4-mini"]
OPENROUTER_MODELS = [("openai/gpt-4.1", "OpenAI"), ("anthropic/claude-sonnet-4.5", "Anthropic"),
                     ("google/gemini-2.5-pro", "Google Vertex"), ("x-ai/grok-4", "xAI")]
TEAMS = 40  # Copilot teams / OpenAI projects the people are spread over
# Seconds per request the documented limits impose at the least (None: no number is
# published), records per request when pages are counted in records (None: they are not),
# and where the figure comes from (shared/providers/*.md).
LIMITS = {"cursor": (60 / 20, 1000, "20 requests/min, 1000 events per page"),
          "anthropic": (60 / 1, 1000, "polling once per minute sustained, 1000 records/page"),
          "copilot": (3600 / 5000, None,
                      "github.md 'Rate limits': 5,000 requests/h per token (copilot.md: as in "
                      "github.md); report downloads on signed links not counted"),
          "openai": (None, None,
                     "openai.md §1: 'No numeric rate limit for admin endpoints is published'; "
                     "§2: a page holds up to 31 one-day buckets"),
          "openrouter": (60 / 64, None,
                         "openrouter.md §1: /activity 'not published'; stand-in: Analytics' "
                         "64 requests/min (unconfirmed); §3: one call per member per day")}
# The APIs that answer only recent days: the bench serves them the last completed days.
RECENT_ONLY = {"copilot": None, "openrouter": 30}  # most days they keep (None: no cap here)


def seed_cursor(fake, people: int, days: int, per_day: int, start: datetime,
                rng: random.Random) -> int:
    users = [f"dev{i:04d}@example.com" for i in range(people)]
    base = int(start.timestamp() * 1000)
    n = 0
    for d in range(days):
        for user in users:
            for _ in range(per_day):
                fake.add_event(base + d * 86_400_000 + rng.randrange(86_400_000), user,
                               rng.choice(MODELS), kind=rng.choice(KINDS),
                               input=rng.randint(0, 50000), output=rng.randint(0, 20000),
                               cache_write=rng.randint(0, 30000),
                               cache_read=rng.randint(0, 900000),
                               total_cents=Decimal(rng.randint(0, 50000)) / 1000,
                               charged_cents=Decimal(rng.randint(0, 60000)) / 1000,
                               token_based=rng.random() > 0.05)
                n += 1
    return n


def seed_anthropic(fake, people: int, days: int, start: datetime, rng: random.Random) -> int:
    n = 0
    for d in range(days):
        day = (start + timedelta(days=d)).date()
        for i in range(people):
            models = [(m, rng.randint(0, 50000), rng.randint(0, 20000),
                       rng.randint(0, 900000), rng.randint(0, 30000),
                       Decimal(rng.randint(0, 50000)) / 100)
                      for m in rng.sample(CLAUDE_MODELS, 2)]
            fake.add_claude_code(day, actor_email=f"dev{i:04d}@example.com", models=models)
            n += 1
    return n


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, func):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
        return timed



def _money(rng: random.Random, cents: int) -> Decimal:
    return Decimal(rng.randint(0, cents)) / 100


def seed_copilot(fake, people: int, days: int, start: datetime, rng: random.Random) -> int:
    """Per person-day: a users-1-day line, the person's AI-credit items (two models; one in
    ten over the pool, billed) and a user-teams line; per day the billing total; the seats."""
    from tests.fakes.copilot import credit_item, seat, team_line, user_line

    logins = [f"dev{i:04d}" for i in range(people)]
    fake.seats = [seat(login, 10_000 + i, team=f"team{i % TEAMS:02d}")
                  for i, login in enumerate(logins)]
    for d in range(days):
        day = (start + timedelta(days=d)).date()
        lines, teams, total = [], [], {}
        for i, login in enumerate(logins):
            items = []
            for model in rng.sample(COPILOT_MODELS, 2):
                credits = _money(rng, 60000)
                net = credits if rng.random() < 0.1 else Decimal(0)
                items.append(credit_item(model, str(credits), net_credits=str(net)))
                gross_net = total.setdefault(model, [Decimal(0), Decimal(0)])
                gross_net[0] += credits
                gross_net[1] += net
            fake.billing[(day, login)] = items
            cli = (rng.randint(0, 80000), rng.randint(0, 8000)) if rng.random() < 0.2 else (0, 0)
            generations = rng.randint(0, 200)
            lines.append(user_line(
                day, login, 10_000 + i, interactions=rng.randint(0, 60),
                generations=generations, acceptances=rng.randint(0, generations),
                loc_added=rng.randint(0, 800), loc_deleted=rng.randint(0, 100),
                credits=str(sum((it["grossQuantity"] for it in items), Decimal(0))),
                cli_tokens=cli, ide=rng.choice(COPILOT_IDES), model=items[0]["model"]))
            teams.append(team_line(day, login, 10_000 + i, 4000 + i % TEAMS,
                                   f"team{i % TEAMS:02d}"))
        fake.users[day], fake.teams[day] = lines, teams
        fake.billing[(day, None)] = [credit_item(m, str(g), net_credits=str(n))
                                     for m, (g, n) in total.items()]
    return people * days


def seed_openai(fake, people: int, days: int, start: datetime, rng: random.Random) -> int:
    """Users each with an API key in one of TEAMS projects; per person-day two models of
    completions (grouped by user, key and model, as the provider asks); per day the bill of
    each project in three line items."""
    projects = [f"proj_{p:02d}" for p in range(TEAMS)]
    for p in projects:
        fake.add_project(p, p.replace("_", " "))
    for i in range(people):
        user = f"user-{i:04d}"
        fake.add_user(user, f"dev{i:04d}@example.com", f"Dev {i:04d}")
        fake.add_project_key(projects[i % TEAMS], f"key_{i:04d}", "laptop", user)
    n = 0
    for d in range(days):
        day = (start + timedelta(days=d)).date()
        for i in range(people):
            for model in rng.sample(OPENAI_MODELS, 2):
                total = rng.randint(0, 3_000_000)
                cached = rng.randint(0, total // 2)
                fake.add_usage(day, user_id=f"user-{i:04d}", api_key_id=f"key_{i:04d}",
                               project_id=projects[i % TEAMS], model=model, input=total,
                               cached=cached, cache_write=rng.randint(0, (total - cached) // 10),
                               output=rng.randint(0, 120_000), requests=rng.randint(1, 300))
                n += 1
        for p in projects:
            for item in ("gpt-5-codex, input", "gpt-5-codex, cached input",
                         "gpt-5-codex, output"):
                fake.add_cost(day, _money(rng, 300_000), project_id=p, line_item=item)
    return n


def seed_openrouter(fake, people: int, days: int, start: datetime, rng: random.Random) -> int:
    """Members; per person-day two models (one in ten served by two providers: two rows),
    and a few rows a day of a departed member's key (no member: the unattributed rest)."""
    for i in range(people):
        fake.add_member(f"user_{i:04d}", f"dev{i:04d}@example.com", "Dev", f"{i:04d}")
    n = 0
    for d in range(days):
        day = (start + timedelta(days=d)).date()
        for i in range(people):
            for model, provider in rng.sample(OPENROUTER_MODELS, 2):
                for served_by in (provider, "Azure")[:2 if rng.random() < 0.1 else 1]:
                    prompt = rng.randint(0, 2_000_000)
                    fake.add_activity(day, model, user_id=f"user_{i:04d}",
                                      usage=Decimal(rng.randint(0, 500_000)) / 10_000,
                                      byok=(Decimal(rng.randint(0, 100_000)) / 10_000
                                            if rng.random() < 0.1 else Decimal(0)),
                                      requests=rng.randint(1, 300), prompt=prompt,
                                      completion=rng.randint(0, 60_000),
                                      reasoning=rng.randint(0, 5_000),
                                      cached=rng.randint(0, prompt // 2), provider=served_by)
                    n += 1
        for _ in range(3):
            fake.add_activity(day, OPENROUTER_MODELS[0][0], key="sk-or-v1-departed",
                              usage=Decimal(rng.randint(0, 50_000)) / 10_000,
                              prompt=rng.randint(0, 100_000), completion=rng.randint(0, 5_000))
            n += 1
    fake.index()
    return n


def indexed_openrouter():
    """The OpenRouter fake with its rows indexed by (day, member): its own scan reads every
    row for every request, 60,000 requests × 120,000 rows, which would bench the fake."""
    from collections import defaultdict

    from tests.fakes.openrouter import FakeOpenRouter

    class IndexedOpenRouter(FakeOpenRouter):
        def index(self) -> None:
            self._index = defaultdict(list)
            for row in self.activity:
                self._index[(row["date"], None)].append(row)
                if row["_user_id"] is not None:
                    self._index[(row["date"], row["_user_id"])].append(row)

        def matching(self, days, user_id, key):
            if key is not None:
                return super().matching(days, user_id, key)
            return [row for day in days for row in self._index.get((day, user_id), ())]

    return IndexedOpenRouter()


def fake_for(provider: str):
    """The fake (not started), the account's credentials, and its settings once the fake
    runs (the fake as its base URL)."""
    if provider == "cursor":
        from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin

        return FakeCursorAdmin(), {"api_key": DEFAULT_KEY}, lambda f: {"base_url": f.url}
    if provider == "anthropic":
        from tests.fakes.anthropic import FakeAnthropic

        key = "sk-ant-admin01-bench"
        return (FakeAnthropic(admin_keys=(key,)), {"admin_key": key},
                lambda f: {"base_url": f.url})
    if provider == "copilot":
        from tests.fakes.copilot import FakeCopilot
        from tests.fakes.github import DEFAULT_TOKEN

        return (FakeCopilot(org="acme"), {"token": DEFAULT_TOKEN},
                lambda f: {"base_url": f.url, "org": "acme"})
    if provider == "openai":
        from tests.fakes.openai import ADMIN_KEY, FakeOpenAI

        return FakeOpenAI(), {"admin_key": ADMIN_KEY}, lambda f: {"base_url": f.base_url}
    if provider == "openrouter":
        from tests.fakes.openrouter import MANAGEMENT_KEY

        return (indexed_openrouter(), {"management_key": MANAGEMENT_KEY},
                lambda f: {"base_url": f.base_url})
    raise SystemExit(f"unknown provider {provider!r} (known: {', '.join(LIMITS)})")


def seed(provider: str, fake, args, days: int, start: datetime, rng: random.Random) -> int:
    if provider == "cursor":
        return seed_cursor(fake, args.people, days, args.events_per_day, start, rng)
    seeder = {"anthropic": seed_anthropic, "copilot": seed_copilot, "openai": seed_openai,
              "openrouter": seed_openrouter}[provider]
    return seeder(fake, args.people, days, start, rng)


def verdict(provider: str, ours: float, requests: int, fetched: int, days: int) -> str:
    """Our time per account-day against what the documented limit allows at the least."""
    per_request, per_page, text = LIMITS[provider]
    if per_request is None:
        # Nothing to compare with: say from which rate on we would be the slower side.
        rate = requests / (ours / 60) if ours > 0 else float("inf")
        return (f"per account-day: ours {ours / days:.2f}s vs no published limit ({text}) -> "
                f"ours is the bottleneck only if it allowed over {rate:.0f} requests/min")
    pages = -(-fetched // per_page) if per_page else 0
    floor = per_request * max(requests, pages)
    return (f"per account-day: ours {ours / days:.2f}s vs >= {floor / days:.1f}s the "
            f"documented limit allows ({text}) -> "
            f"{'ours is not the bottleneck' if ours < floor else 'OURS IS'}")


def bench(provider: str, args, start: datetime) -> list[str]:
    from flask_migrate import upgrade

    from abacus import create_app
    from abacus.extensions import db
    from abacus.sync import accounts
    from abacus.sync import engine as sync

    days = args.days
    if provider in RECENT_ONLY:
        keeps = RECENT_ONLY[provider]
        if keeps is not None and days > keeps:
            print(f"{provider}: its API keeps {keeps} days; benching {keeps}", flush=True)
            days = keeps
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days)
    first_day, last_day = start.date(), (start + timedelta(days=days - 1)).date()
    fake, credentials, settings = fake_for(provider)
    # Copilot's report files come from a second origin (the signed download links).
    servers = [fake, *([fake.files] if provider == "copilot" else [])]
    lines = []
    with tempfile.TemporaryDirectory(prefix="abacus-bench-") as tmpdir, fake:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        records = seed(provider, fake, args, days, start, random.Random(1))
        print(f"{provider}: fake serves {records} records ({args.people} people x "
              f"{days} days), seeded in {time.perf_counter() - t0:.1f}s", flush=True)
        server_timer = Timer()
        for server in servers:
            server._dispatch = server_timer.wrap(server._dispatch)

        with scratch_database(tmp) as db_url:
            app = create_app({"ABACUS_ENV": "test", "DATABASE_URL": db_url,
                              "SECRET_KEY": "bench" * 4, "CURSOR_MIN_REQUEST_INTERVAL": "0",
                              "ABACUS_INSTANCE_PATH": str(tmp / "instance"),
                              "REDIS_URL": "redis://127.0.0.1:1/0"}, dotenv=False)
            with app.app_context():
                upgrade()
                account = accounts.add_account(provider, "bench", credentials,
                                               settings(fake))
                db.session.commit()
                ingest_timer = Timer()
                real_ingest = sync.ingest
                sync.ingest = ingest_timer.wrap(real_ingest)
                try:
                    for label in ("first sync", "re-sync"):
                        server_timer.seconds = ingest_timer.seconds = 0.0
                        before = [len(server.requests) for server in servers]
                        started = time.perf_counter()
                        outcome = sync.sync_account(account.id, first=first_day, last=last_day)
                        total = time.perf_counter() - started
                        assert outcome.status == "success", outcome.message
                        requests, *downloads = (len(server.requests) - n
                                                for server, n in zip(servers, before,
                                                                     strict=True))
                        ours = total - server_timer.seconds
                        lines.append(
                            f"{provider} {label}: {outcome.fetched} records in {total:.1f}s "
                            f"({outcome.inserted} new, {outcome.unchanged} unchanged; "
                            f"{requests} requests"
                            + "".join(f" + {n} report downloads" for n in downloads)
                            + f") | fake {server_timer.seconds:.1f}s, ours: "
                            f"HTTP+parse {ours - ingest_timer.seconds:.1f}s, ingest "
                            f"{ingest_timer.seconds:.1f}s | "
                            + verdict(provider, ours, requests, outcome.fetched, days))
                        print(lines[-1], flush=True)
                finally:
                    sync.ingest = real_ingest
                db.session.remove()
                db.engine.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default=",".join(LIMITS),
                        help="comma-separated, of: " + ", ".join(LIMITS))
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events-per-day", type=int, default=2,
                        help="Cursor events per person-day")
    args = parser.parse_args()
    import os

    providers = args.provider.split(",")
    unknown = [p for p in providers if p not in LIMITS]
    if unknown:
        parser.error(f"unknown provider {unknown[0]!r} (known: {', '.join(LIMITS)})")
    print(f"load average at start: {os.getloadavg()}", flush=True)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    lines = []
    for provider in providers:
        lines += bench(provider, args, start)
    print(f"load average at end: {os.getloadavg()}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
