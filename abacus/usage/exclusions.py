"""Excluded identities: usage an admin keeps out of every total while it stays stored.

An account's `excluded` setting lists identities (an actor such as an API key hash or a member
id, or the e-mail of the person an actor is mapped to), lower-cased. Their events stay in
`usage_events` as reported (revisions still logged), but `ingest.refresh_daily` leaves them
out of every rollup, so no page, total or `stats` counts them. Applying the rule when rollups
are built (not when events are stored) means a changed list, a new identity mapping or a
re-sync always agree, and re-running a sync changes nothing. Typical use: a tool routed
through OpenRouter that is already counted from its own source (README, "Double counting").

May import: models, extensions, precedence (no providers: the read side uses
`counted_events`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import TextClause, text

from ..extensions import db
from ..models import Account
from .precedence import counted_sql

# An event of an excluded identity (its actor, or the person it is mapped to), with the list
# as the parameter `excl` (from `excluded_identities`).
EXCLUDED_SQL = ("(lower(actor) = ANY(%(excl)s::text[]) "
                "OR coalesce(email, '') = ANY(%(excl)s::text[]))")


def excluded_identities(settings: dict | None) -> list[str]:
    """The `excluded` setting of an account's settings (`sync.accounts` stores it sorted
    and lower-cased)."""
    return [str(v).lower() for v in (settings or {}).get("excluded") or []]


def counted_events() -> TextClause:
    """The same rule as a condition on `usage_events`, reading each row's own account, for
    queries that list stored events beside the rollups (the person page's raw listing): what
    they list is what the rollups count (telemetry a billed source supersedes left out too:
    see `precedence`)."""
    return text("""NOT EXISTS (
        SELECT 1 FROM accounts xa
        CROSS JOIN jsonb_array_elements_text(coalesce(xa.settings->'excluded', '[]'::jsonb))
            AS x(id)
        WHERE xa.id = usage_events.account_id
          AND (x.id = lower(usage_events.actor) OR x.id = usage_events.email))
        AND """ + counted_sql("usage_events"))


@dataclass(frozen=True)
class ExcludedUsage:
    records: int
    tokens: int
    cost_usd: Decimal


def excluded_usage(account: Account) -> ExcludedUsage:
    """What the account's exclusions keep out of the totals now (stored, counted nowhere)."""
    raw = db.session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        cur.execute(f"""SELECT count(*), coalesce(sum(input_tokens + output_tokens
                                                     + cache_write_tokens + cache_read_tokens), 0),
                               coalesce(sum(cost_usd), 0)
                        FROM usage_events WHERE account_id = %(acc)s AND {EXCLUDED_SQL}""",
                    {"acc": account.id, "excl": excluded_identities(account.settings)})
        n, tokens, cost = cur.fetchone()
    return ExcludedUsage(int(n), int(tokens), Decimal(cost))
