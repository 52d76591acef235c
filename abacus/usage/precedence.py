"""One truth per person-day: which of two sources reporting the same usage the totals count.

Telemetry (OTLP from Claude Code, Codex, Copilot; stored in accounts of provider `otel`, one
per tool) overlaps the admin and billing APIs, and inside telemetry Claude Code reports the
same requests twice (per-request `api_request` events and per-minute metrics). For one
(day, tool, person), where person = coalesce(email, actor), the rollups count:

1. an admin/billing API account's usage whenever such an account reports that person-day
   for the tool (it is what the provider bills: it wins for money and tokens); telemetry
   of that person-day stays stored but is superseded;
2. otherwise telemetry: per-request events (`otel_request`) when there are any that day,
   else the metric records (`otel_tokens`, `otel_cost`). Activity records (sessions, lines,
   commits, PRs: `otel_activity`) count unless rule 1 applies.

So telemetry fills the people (and days) the APIs do not report. The rule is applied where
rollups are built (`ingest.refresh_daily`), like exclusions, and re-applied for telemetry
accounts whenever an API account's days are rebuilt, so it holds whichever side arrives
first. `counted_events` uses the same condition for pages that list raw events.

May import: nothing of abacus (SQL text only).
"""

from __future__ import annotations

TELEMETRY_PROVIDER = "otel"
REQUEST_KIND = "otel_request"
METRIC_KINDS = ("otel_tokens", "otel_cost")
ACTIVITY_KIND = "otel_activity"

_METRIC_LIST = ", ".join(f"'{k}'" for k in METRIC_KINDS)


def request_covered_sql(e: str, requests_where: str) -> str:
    """SQL condition, rule 2 alone: the telemetry metric record `e` (tokens or cost) has
    per-request events of the same person-day and tool. `requests_where` limits the request
    events looked at (alias `r`: an account and its days), so the subquery is uncorrelated:
    PostgreSQL hashes it once instead of searching it per row."""
    return f"""({e}.kind IN ({_METRIC_LIST}) AND ({e}.day, {e}.tool, coalesce({e}.email, {e}.actor))
        IN (SELECT r.day, r.tool, coalesce(r.email, r.actor) FROM usage_events r
            WHERE r.kind = '{REQUEST_KIND}' AND {requests_where}))"""


def billed_covered_sql(e: str, billed_where: str) -> str:
    """SQL condition, rule 1 alone: a billed (non-telemetry) account reports the person-day
    and tool of event `e`; `billed_where` limits the rollup rows looked at (alias `spd`:
    days), hashed once like `request_covered_sql`."""
    return f"""(({e}.day, {e}.tool, coalesce({e}.email, {e}.actor)) IN (
        SELECT spd.day, spd.tool, spd.person
        FROM usage_person_daily spd JOIN accounts sa ON sa.id = spd.account_id
        WHERE sa.provider <> '{TELEMETRY_PROVIDER}' AND {billed_where}))"""


def counted_telemetry_sql(e: str, days: str) -> str:
    """SQL condition for the rollup refresh of one telemetry account (parameters `acc` and
    `days` as in `ingest.refresh_daily`): the event `e` counts (neither rule supersedes it)."""
    return (f"(NOT {billed_covered_sql(e, f'spd.day = ANY({days})')} AND NOT "
            f"{request_covered_sql(e, f'r.account_id = %(acc)s AND r.day = ANY({days})')})")


def counted_sql(e: str = "usage_events") -> str:
    """SQL condition on any usage event (for listings of a few events, such as a person's
    raw records): not a superseded telemetry event. Correlated per row."""
    person = f"coalesce({e}.email, {e}.actor)"
    return f"""({e}.provider <> '{TELEMETRY_PROVIDER}' OR (NOT EXISTS (
            SELECT 1 FROM usage_person_daily spd JOIN accounts sa ON sa.id = spd.account_id
            WHERE sa.provider <> '{TELEMETRY_PROVIDER}' AND spd.day = {e}.day
              AND spd.tool = {e}.tool AND spd.person = {person})
        AND NOT ({e}.kind IN ({_METRIC_LIST}) AND EXISTS (
            SELECT 1 FROM usage_events sr
            WHERE sr.account_id = {e}.account_id AND sr.day = {e}.day
              AND sr.kind = '{REQUEST_KIND}' AND sr.tool = {e}.tool
              AND coalesce(sr.email, sr.actor) = {person}))))"""
