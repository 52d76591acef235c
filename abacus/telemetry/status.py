"""What the Status page and `ingest-tokens list` show about telemetry: each ingest token and
when it last delivered, and per day how telemetry compares with the billed sources for the
tools both report (so an admin sees the two agree before relying on either)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select, text

from ..extensions import db
from ..models import AccessToken, TelemetryIntake
from ..usage.precedence import TELEMETRY_PROVIDER, request_covered_sql


@dataclass(frozen=True)
class TokenRow:
    name: str
    state: str  # live | revoked
    email: str | None
    created_at: datetime
    last_used_at: datetime | None
    last_received_at: datetime | None
    requests: int
    points: int  # data points and events delivered


def token_rows() -> list[TokenRow]:
    """Every ingest token, live first, newest first, with what it delivered."""
    rows = db.session.execute(
        select(AccessToken, TelemetryIntake)
        .outerjoin(TelemetryIntake, TelemetryIntake.token_id == AccessToken.id)
        .where(AccessToken.kind == "ingest")
        .order_by(AccessToken.revoked_at.is_not(None), AccessToken.created_at.desc())).all()
    return [TokenRow(t.name, "revoked" if t.revoked_at else "live", t.email, t.created_at,
                     t.last_used_at, i.last_received_at if i else None,
                     i.requests if i else 0, i.points if i else 0)
            for t, i in rows]


@dataclass(frozen=True)
class Comparison:
    """One (day, tool) both telemetry and a billed source report."""

    day: date
    tool: str
    telemetry_people: int
    telemetry_tokens: int
    telemetry_cost: Decimal
    billed_people: int
    billed_tokens: int
    billed_cost: Decimal
    both: int  # people both report (the billed figures count for them)
    telemetry_only: int  # people only telemetry reports (telemetry counts for them)


_REQUESTS_IN_RANGE = ("r.account_id IN (SELECT id FROM accounts WHERE provider = :tel) "
                      "AND r.day BETWEEN :start AND :end")


def comparison(start: date, end: date, limit: int = 31) -> list[Comparison]:
    """Per (day, tool) from `start` to `end`, newest first: telemetry (every record, metrics
    left out where per-request events cover them) beside the billed accounts' rollups."""
    rows = db.session.execute(text(f"""
        WITH tel AS (
            SELECT e.day, e.tool, coalesce(e.email, e.actor) AS person,
                   sum(e.input_tokens + e.output_tokens + e.cache_write_tokens
                       + e.cache_read_tokens) AS tokens,
                   coalesce(sum(e.cost_usd), 0) AS cost
            FROM usage_events e JOIN accounts a ON a.id = e.account_id
            WHERE a.provider = :tel AND e.day BETWEEN :start AND :end
              AND NOT {request_covered_sql("e", _REQUESTS_IN_RANGE)}
            GROUP BY 1, 2, 3),
        billed AS (
            SELECT d.day, d.tool, d.person,
                   sum(d.input_tokens + d.output_tokens + d.cache_write_tokens
                       + d.cache_read_tokens) AS tokens, sum(d.cost_usd) AS cost
            FROM usage_person_daily d JOIN accounts a ON a.id = d.account_id
            WHERE a.provider <> :tel AND d.day BETWEEN :start AND :end
              AND (d.day, d.tool) IN (SELECT day, tool FROM tel)
            GROUP BY 1, 2, 3)
        SELECT day, tool,
               count(t.person), coalesce(sum(t.tokens), 0), coalesce(sum(t.cost), 0),
               count(b.person), coalesce(sum(b.tokens), 0), coalesce(sum(b.cost), 0),
               count(*) FILTER (WHERE t.person IS NOT NULL AND b.person IS NOT NULL),
               count(*) FILTER (WHERE b.person IS NULL)
        FROM tel t FULL JOIN billed b USING (day, tool, person)
        GROUP BY day, tool
        HAVING count(b.person) > 0
        ORDER BY day DESC, tool
        LIMIT :limit"""), {"tel": TELEMETRY_PROVIDER, "start": start, "end": end,
                            "limit": limit}).all()
    return [Comparison(r[0], r[1], int(r[2]), int(r[3]), Decimal(r[4]), int(r[5]), int(r[6]),
                       Decimal(r[7]), int(r[8]), int(r[9])) for r in rows]
