"""The only writer of usage_events, change_log and usage_daily.

A batch of UsageRecord objects for one account is streamed with COPY into a temporary staging
table, then merged with a handful of set-based statements:

1. records that share an event key inside the batch get an ordinal (`key#2`, …) in a
   deterministic order, so two genuine events are never collapsed into one;
2. identity mappings resolve e-mails; missing costs are estimated from the price table
   (`estimated`), or flagged `unpriced` when the model has no price (never a silent $0);
   records the provider says were not charged cost $0 (`not_charged`), never estimated;
3. stored events whose fields differ are updated and one change_log row is written per
   changed field; identical ones are left untouched; new ones are inserted (a batch on days
   the account has no events on yet is inserted as it is, without comparing);
4. usage_daily and the rollups derived from it (usage_team_days among them) are rebuilt
   for exactly the (account, day) pairs whose events changed.

usage_team_days also depends on team memberships and the tree: a session hook here brings it
in line on every commit that changed them (`_rebuild_changed_teams`).

Everything happens in the caller's transaction (ingest never commits), so a sync can advance
its cursor in the same transaction as the data, and a failed import stores nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg2.errors
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Account, Team, TeamMembership, UsagePersonBlock, UsageTeamDay
from ..providers import identity_source, providers, providers_of_source
from ..providers.base import CACHE_WRITE_1H, SERVICE_TIER, SPEED, UsageRecord
from .exclusions import EXCLUDED_SQL, excluded_identities
from .precedence import TELEMETRY_PROVIDER, counted_telemetry_sql
from .prices import Segment, org_today, price_segments, prices_on
from .pricing import PRICE_FACTORS, canonical_model

# Fields compared to decide whether a re-sent record is a revision. Order is the column order
# of the staging table after event_key.
FIELDS = ("occurred_at", "day", "tool", "actor", "email", "model", "raw_model", "kind",
          "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens",
          "cost_usd", "cost_source", "extras")

_STAGE_DDL = """
DROP VIEW IF EXISTS pg_temp.ingest_stage;
DROP TABLE IF EXISTS pg_temp.ingest_raw;
CREATE TEMP TABLE ingest_raw (
    seq bigint NOT NULL,
    event_key text NOT NULL,
    occurred_at timestamptz NOT NULL,
    tool text NOT NULL,
    actor text NOT NULL,
    email text,
    model text NOT NULL,
    raw_model text NOT NULL,
    kind text NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    cost_usd numeric(14, 6),
    extras jsonb NOT NULL,
    day date NOT NULL,
    not_charged boolean NOT NULL
) ON COMMIT DROP;
"""
STAGE_COLUMNS = ("seq, event_key, occurred_at, tool, actor, email, model, raw_model, kind, "
                 "input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, "
                 "cost_usd, extras, day, not_charged")

# COPY text format: backslash, tab and line breaks must be escaped inside values.
_ZERO = timedelta(0)
_LOCK_NAMESPACE = 0x0AB0  # first key of pg_advisory_xact_lock(ns, account_id)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class IngestResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: int = 0  # change_log rows written (one per changed field)
    days_refreshed: list[date] = field(default_factory=list)
    unpriced_models: dict[str, int] = field(default_factory=dict)  # model -> events

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


def per_request_events(provider: str) -> bool:
    """Whether `provider` reports one event per request (so long-context rates can apply),
    not per-day aggregates (which stay at the base tier: their requests' sizes are unknown)."""
    adapter = providers().get(provider.replace("-", "_"))
    return bool(adapter and adapter.capabilities.per_request_events)


def ingest(account: Account, records: Iterable[UsageRecord], run_id: int | None = None,
           *, progress: Callable[[int], None] | None = None) -> IngestResult:
    """Upsert `records` for `account` in the current transaction; see the module docstring.

    `progress(n)` is called with the number of records streamed so far (every 10,000).
    """
    tz = _timezone()

    def fill(cur, _tz: str) -> None:
        cur.copy_expert(f"COPY ingest_raw ({STAGE_COLUMNS}) FROM STDIN",
                        _LineReader(_copy_lines(records, progress, ZoneInfo(tz))))

    return ingest_staged(account, fill, run_id)


def ingest_staged(account: Account, fill: Callable[[Any, str], None],
                  run_id: int | None = None) -> IngestResult:
    """`ingest`, for a batch the caller writes into the temp table `ingest_raw` itself:
    `fill(cursor, org_time_zone)` runs after the table is created (columns as
    `STAGE_COLUMNS`, `day` in the org time zone, `model` canonical), in the same
    transaction. Bulk imports use it to let PostgreSQL parse and transform a file in SQL
    instead of building a Python object per row."""
    raw = db.session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        # One writer per account at a time (until commit), so concurrent syncs and imports of
        # one account cannot both insert the same event.
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE, account.id))
        # usage_events.account_id has no foreign key (its per-row check cost a bulk import
        # a tenth of its time); this share lock keeps the account from being deleted until
        # commit, which is what the key's check guaranteed.
        cur.execute("SELECT 1 FROM accounts WHERE id = %s FOR KEY SHARE", (account.id,))
        if cur.fetchone() is None:
            raise ValueError(f"account {account.id} does not exist")
        # Room to hash-aggregate a large batch instead of sorting it on disk.
        cur.execute("SET LOCAL work_mem = '256MB'")
        # Plans here are simple scans and joins; compiling them (JIT) costs more than it saves.
        cur.execute("SET LOCAL jit = off")
        cur.execute(_STAGE_DDL)
        load_price_segments(cur, price_segments())
        fill(cur, _timezone())
        result = _merge(cur, account, run_id)
        # The view depends on the temp table, which is dropped on commit.
        cur.execute("DROP VIEW pg_temp.ingest_stage")
        return result


def _factor_sql(kind_column: str) -> str:
    """The estimate's price factor of an event's kind (batch: half price) as SQL; the
    factors are code constants (`pricing.PRICE_FACTORS`), written into the SQL as literals."""
    if not PRICE_FACTORS:
        return "1"
    arms = " ".join(f"WHEN '{k}' THEN {f}::numeric" for k, f in sorted(PRICE_FACTORS.items())
                    if re.fullmatch(r"[a-z_]+", k))
    return f"(CASE {kind_column} {arms} ELSE 1 END)"


def _timezone() -> str:  # the org time zone decides which day an event belongs to
    from flask import current_app

    return current_app.config["ABACUS"].timezone


# Included allowances (see seats.included): Copilot's pooled credits are an event's gross
# cost minus `extras.billed_usd` (where billing was readable); Cursor's events of an
# `…INCLUDED…` kind are not billed, so their whole cost is included. One home for the rule:
# refresh_daily sums it into every rollup's `included_usd`.
INCLUDED_USD = """COALESCE(sum(CASE
    WHEN tool = 'copilot' AND extras ? 'billed_usd'
        THEN COALESCE(cost_usd, 0) - (extras->>'billed_usd')::numeric
    WHEN tool = 'cursor' AND kind ILIKE '%%included%%' THEN COALESCE(cost_usd, 0)
    ELSE 0 END), 0)"""

_OPEN_END = date(9999, 12, 31)
_SEGMENT_COLUMNS = ("model", "valid_from", "valid_to", "source", "input", "output",
                    "cache_write", "cache_write_1h", "cache_read", "long_threshold", "l_input",
                    "l_output", "l_cache_write", "l_cache_write_1h", "l_cache_read", "fast")


def load_price_segments(cur, segments: list[Segment]) -> None:
    """(Re)create the temp table `ingest_prices`: one row per (model, day range) with every
    rate spelled out, so SQL estimates an event with the price in force on its day."""
    cur.execute("""
        DROP TABLE IF EXISTS pg_temp.ingest_prices;
        CREATE TEMP TABLE ingest_prices (
            model text NOT NULL, valid_from date NOT NULL, valid_to date NOT NULL,
            source text NOT NULL,
            input numeric NOT NULL, output numeric NOT NULL, cache_write numeric NOT NULL,
            cache_write_1h numeric NOT NULL, cache_read numeric NOT NULL,
            long_threshold bigint, l_input numeric, l_output numeric, l_cache_write numeric,
            l_cache_write_1h numeric, l_cache_read numeric, fast numeric NOT NULL,
            PRIMARY KEY (model, valid_from)
        ) ON COMMIT DROP;
    """)
    rows = []
    for seg in segments:
        r = seg.price.rates()
        rows.append((seg.model, seg.start, seg.end or _OPEN_END, seg.price.source, *r.base,
                     r.threshold, *(r.long or (None,) * 5), r.fast))
    if rows:
        placeholders = "(" + ",".join(["%s"] * len(_SEGMENT_COLUMNS)) + ")"
        args = ",".join(cur.mogrify(placeholders, row).decode() for row in rows)
        cur.execute(f"INSERT INTO ingest_prices ({', '.join(_SEGMENT_COLUMNS)}) VALUES {args}")


# A raw model name that says fast mode (Cursor's `gpt-5-fast`, `…-high-fast`).
_FAST_MODEL_RE = r"(^|[^a-z0-9])fast($|[^a-z0-9])"


def cost_sql(e: str, per_request: bool) -> str:
    """SQL for the estimated cost of event alias `e` (raw tokens, raw_model, extras) with the
    price row `p` of ingest_prices. Mirrors `pricing.estimate`: the 1-hour part of the cache
    writes (`extras.cache_write_1h_tokens`) at the 1-hour rate; long-context rates only for
    per-request events above the model's threshold; fast mode when the provider says so
    (`extras.speed` = fast, `extras.service_tier` = priority, or a `fast` model suffix); the
    kind's price factor (OpenAI batch: half price)."""
    w1h = (f"LEAST(GREATEST(CASE WHEN jsonb_typeof({e}.extras->'{CACHE_WRITE_1H}') = "
           f"'number' THEN ({e}.extras->>'{CACHE_WRITE_1H}')::numeric ELSE 0 END, 0), "
           f"{e}.cache_write_tokens)")

    def tier(px: str) -> str:
        return (f"{e}.input_tokens * p.{px}input + {e}.output_tokens * p.{px}output"
                f" + ({e}.cache_write_tokens - {w1h}) * p.{px}cache_write"
                f" + {w1h} * p.{px}cache_write_1h + {e}.cache_read_tokens * p.{px}cache_read")

    long = "FALSE"
    if per_request:
        long = (f"(p.long_threshold IS NOT NULL AND {e}.input_tokens + {e}.cache_write_tokens"
                f" + {e}.cache_read_tokens > p.long_threshold)")
    fast = (f"({e}.extras->>'{SPEED}' = 'fast' OR {e}.extras->>'{SERVICE_TIER}' = 'priority'"
            f" OR {e}.raw_model ~* '{_FAST_MODEL_RE}')")
    return (f"round((CASE WHEN {long} THEN {tier('l_')} ELSE {tier('')} END)"
            f" * (CASE WHEN {fast} THEN p.fast ELSE 1 END) * {_factor_sql(f'{e}.kind')}"
            " / 1000000, 6)::numeric(14, 6)")


# Joins an event alias to the price in force on its day.
def _price_join(e: str) -> str:
    return (f"LEFT JOIN ingest_prices p ON p.model = {e}.model AND {e}.day >= p.valid_from"
            f" AND {e}.day < p.valid_to")


def _copy_lines(records: Iterable[UsageRecord], progress: Callable[[int], None] | None,
                tz: ZoneInfo) -> Iterator[str]:
    """One COPY text line per record. Hot path (millions of rows): keep it lean."""
    dumps = json.JSONEncoder(separators=(",", ":"), default=str, sort_keys=True).encode
    extras_cache: dict[tuple, str] = {}
    utc = tz.key == "UTC"
    seq = 0
    for seq, r in enumerate(records, 1):
        extras = r.extras
        if not extras:
            extras_text = "{}"
        else:
            try:  # most records share a handful of small extras: format each shape once
                ck = tuple((k, v.__class__, v) for k, v in extras.items())
                extras_text = extras_cache.get(ck) or extras_cache.setdefault(ck, dumps(extras))
            except TypeError:  # unhashable values
                extras_text = dumps(extras)
        at = r.occurred_at
        day = (at if utc and at.utcoffset() == _ZERO else at.astimezone(tz)).date()
        # Text fields are joined with NUL (never valid in PostgreSQL text), escaped in one
        # translate call, then split again.
        text = "\0".join((r.event_key, r.tool, r.actor, r.email or "", r.kind,
                           canonical_model(r.raw_model), r.raw_model, extras_text))
        if "\\" in text or "\t" in text or "\n" in text or "\r" in text:  # rare
            text = text.translate(_COPY_ESCAPES)
        parts = text.split("\0")
        if len(parts) != 8:
            raise ValueError(f"record {r.event_key!r}: text contains a NUL character")
        key, tool, actor, email, kind, model, raw_model, extras_text = parts
        if r.email is None:
            email = "\\N"
        cost = "\\N" if r.cost_usd is None else str(r.cost_usd)
        yield (f"{seq}\t{key}\t{at.isoformat()}\t{tool}\t{actor}\t{email}\t{model}\t"
               f"{raw_model}\t{kind}\t{r.input_tokens}\t{r.output_tokens}\t"
               f"{r.cache_write_tokens}\t{r.cache_read_tokens}\t{cost}\t{extras_text}\t"
               f"{day.isoformat()}\t{'t' if r.not_charged else 'f'}\n")
        if progress is not None and seq % 10_000 == 0:
            progress(seq)
    if progress is not None:
        progress(seq)


class _LineReader:
    """File-like adapter so COPY pulls lines from a generator: memory stays constant."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        size = 1 << 16 if size is None or size < 0 else size
        chunks, have = [self._buf], len(self._buf)
        for line in self._lines:
            data = line.encode()
            chunks.append(data)
            have += len(data)
            if have >= size:
                break
        buf = b"".join(chunks)
        self._buf = buf[size:]
        return buf[:size]


_CHANGED_COLUMNS = ", ".join(FIELDS)


def _merge(cur, account: Account, run_id: int | None) -> IngestResult:
    result = IngestResult()
    per_request = per_request_events(account.provider)
    params = {"acc": account.id, "run": run_id, "provider": account.provider}

    # 1. Ordinals for keys that repeat inside the batch (same ms, same user, same model), in
    #    a content order so a re-sent batch gets the same ordinals.
    cur.execute("""
        WITH dup AS (SELECT event_key FROM ingest_raw GROUP BY event_key HAVING count(*) > 1),
        ranked AS (
            SELECT r.seq, row_number() OVER (
                PARTITION BY r.event_key
                ORDER BY r.input_tokens, r.output_tokens, r.cache_write_tokens,
                         r.cache_read_tokens, r.cost_usd, r.kind, r.extras::text, r.seq) AS rn
            FROM ingest_raw r JOIN dup USING (event_key))
        UPDATE ingest_raw r SET event_key = r.event_key || '#' || k.rn
        FROM ranked k WHERE k.seq = r.seq AND k.rn > 1
    """)
    # 2. Derived columns, computed where they are read (cheaper than rewriting the rows):
    #    mapped e-mail, cost and its source.
    cur.execute("""
        CREATE OR REPLACE TEMP VIEW ingest_stage AS
        SELECT r.seq, r.event_key, r.occurred_at, r.day, r.tool, r.actor,
               COALESCE(m.email, r.email) AS email,
               r.model, r.raw_model, r.kind,
               r.input_tokens, r.output_tokens, r.cache_write_tokens, r.cache_read_tokens,
               CASE WHEN r.not_charged THEN 0::numeric(14, 6)
                    WHEN r.cost_usd IS NOT NULL THEN r.cost_usd
                    WHEN p.model IS NOT NULL THEN {cost}
               END AS cost_usd,
               CASE WHEN r.not_charged THEN 'not_charged'
                    WHEN r.cost_usd IS NOT NULL THEN 'provider'
                    WHEN p.model IS NOT NULL THEN 'estimated'
                    ELSE 'unpriced' END AS cost_source,
               r.extras
        FROM ingest_raw r
        {price_join}
        LEFT JOIN identity_mappings m
            ON m.source = {source} AND m.external_id = r.actor
    """.format(source=cur.mogrify("%s", (identity_source(account.provider),)).decode(),
               cost=cost_sql("r", per_request), price_join=_price_join("r")))
    # (DDL takes no parameters.) Copilot's actors are GitHub logins, mapped under "github".
    cur.execute(f"""SELECT r.model, count(*) FROM ingest_raw r
                   {_price_join("r")}
                   WHERE r.cost_usd IS NULL AND NOT r.not_charged AND p.model IS NULL
                   GROUP BY r.model ORDER BY count(*) DESC""")
    result.unpriced_models = {m: n for m, n in cur.fetchall()}

    columns = f"account_id, provider, event_key, {_CHANGED_COLUMNS}, last_run_id"
    values = f"%(acc)s, %(provider)s, s.event_key, {', '.join('s.' + f for f in FIELDS)}, %(run)s"
    # 3. A batch of days the account has no events on yet (a first import, the next day of
    #    a sync) is all new: one indexed probe, then a plain INSERT, with no change detection
    #    and no anti-join against the account's stored keys (they grow with its history).
    #    A revised event can move days, so the unique key decides: if one is stored already,
    #    the INSERT fails and the batch takes the general path below.
    cur.execute("SELECT day FROM ingest_raw GROUP BY day")  # a hash of a few days, no sort
    batch_days = [d for d, in cur.fetchall()]
    cur.execute("""SELECT EXISTS (SELECT 1 FROM usage_events
                                  WHERE account_id = %(acc)s AND day = ANY(%(days)s))""",
                {**params, "days": batch_days})
    if batch_days and not cur.fetchone()[0]:
        cur.execute("SAVEPOINT ingest_new_days")
        try:
            cur.execute(f"INSERT INTO usage_events ({columns}) SELECT {values} "
                        "FROM ingest_stage s", params)
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT ingest_new_days")
        else:
            result.inserted = cur.rowcount
            cur.execute("RELEASE SAVEPOINT ingest_new_days")
            result.days_refreshed = sorted(batch_days)
            _refresh_inserted(cur, account.id, result)
            return result

    cur.execute("ANALYZE ingest_raw (event_key, model, actor, day)")
    # 3a. Revisions: stored events whose fields differ from the batch.
    cur.execute(f"""
        DROP TABLE IF EXISTS pg_temp.ingest_changed;
        CREATE TEMP TABLE ingest_changed ON COMMIT DROP AS
        SELECT e.id, s.seq, e.day AS old_day
        FROM ingest_stage s
        JOIN usage_events e ON e.account_id = %(acc)s AND e.event_key = s.event_key
        WHERE ({', '.join('e.' + f for f in FIELDS)})
              IS DISTINCT FROM ({', '.join('s.' + f for f in FIELDS)})
    """, params)
    pairs = ", ".join(f"('{f}', e.{f}::text, s.{f}::text)" for f in FIELDS)
    cur.execute(f"""
        INSERT INTO change_log (event_id, field, old_value, new_value, run_id)
        SELECT e.id, c.field, c.old, c.new, %(run)s
        FROM ingest_changed ch
        JOIN usage_events e ON e.id = ch.id
        JOIN ingest_stage s ON s.seq = ch.seq
        CROSS JOIN LATERAL (VALUES {pairs}) AS c(field, old, new)
        WHERE c.old IS DISTINCT FROM c.new
    """, params)
    result.changes = cur.rowcount
    cur.execute(f"""
        UPDATE usage_events e SET ({_CHANGED_COLUMNS}, updated_at, last_run_id)
            = ({', '.join('s.' + f for f in FIELDS)}, now(), %(run)s)
        FROM ingest_changed ch JOIN ingest_stage s ON s.seq = ch.seq
        WHERE e.id = ch.id
    """, params)
    result.updated = cur.rowcount

    # 3b. New events. A plain INSERT is safe: ingest holds the account's lock (see ingest()).
    cur.execute(f"""
        WITH ins AS (
            INSERT INTO usage_events ({columns})
            SELECT {values}
            FROM ingest_stage s
            WHERE NOT EXISTS (SELECT 1 FROM usage_events e
                              WHERE e.account_id = %(acc)s AND e.event_key = s.event_key)
            RETURNING day)
        SELECT day, count(*) FROM ins GROUP BY day
    """, params)
    inserted_days = cur.fetchall()
    result.inserted = sum(n for _, n in inserted_days)
    cur.execute("SELECT count(*) FROM ingest_raw")
    result.unchanged = cur.fetchone()[0] - result.inserted - result.updated

    # 4. Rollups for exactly the days whose events changed (old and new day of a revision).
    cur.execute("""SELECT old_day FROM ingest_changed
                   UNION SELECT r.day FROM ingest_changed ch JOIN ingest_raw r USING (seq)""")
    days = {d for d, in cur.fetchall()} | {d for d, _ in inserted_days}
    result.days_refreshed = sorted(days)
    _refresh_inserted(cur, account.id, result)
    return result


def _refresh_inserted(cur, account_id: int, result: IngestResult) -> None:
    """Rebuild the rollups of `result.days_refreshed` after a merge."""
    if result.inserted > 10_000:
        # Fresh statistics let the rollup hash-aggregate instead of sorting every row.
        cur.execute("ANALYZE usage_events (account_id, day, actor, model)")
    if result.days_refreshed:
        refresh_daily(cur, account_id, result.days_refreshed)


def refresh_daily(cur, account_id: int, days: list[date]) -> None:
    """Rebuild usage_daily and the rollups derived from it (usage_person_daily,
    usage_day_totals, usage_day_people, and the usage_person_blocks holding these days) for
    one account's given days, from usage_events, leaving out the account's excluded
    identities (applied here, so a changed exclusion, mapping or re-sync always agrees).

    Telemetry events a billed source supersedes are left out too (`precedence`): after an
    API account's days are rebuilt, the telemetry accounts holding those days are rebuilt
    as well, so the rule holds whichever side arrived first."""
    cur.execute("SELECT settings, provider FROM accounts WHERE id = %s", (account_id,))
    row = cur.fetchone()
    _refresh_account(cur, account_id, days, row[0] if row else None,
                     telemetry=bool(row) and row[1] == TELEMETRY_PROVIDER)
    if row and row[1] != TELEMETRY_PROVIDER and days:
        cur.execute("SELECT id, settings FROM accounts WHERE provider = %s ORDER BY id",
                    (TELEMETRY_PROVIDER,))
        for tel_id, tel_settings in cur.fetchall():  # none unless telemetry is in use
            cur.execute("""SELECT array_agg(DISTINCT day ORDER BY day) FROM usage_events
                           WHERE account_id = %s AND day = ANY(%s)""", (tel_id, days))
            tel_days = cur.fetchone()[0]
            if not tel_days:
                continue
            # Ingest's lock: a telemetry batch rebuilding the same days waits (its ingest
            # never waits for an API account's lock, so no deadlock).
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE, tel_id))
            _refresh_account(cur, tel_id, tel_days, tel_settings, telemetry=True)


def _refresh_account(cur, account_id: int, days: list[date], settings: dict | None,
                     telemetry: bool) -> None:
    params = {"acc": account_id, "days": days, "excl": excluded_identities(settings)}
    excluded = f"AND NOT {EXCLUDED_SQL}" if params["excl"] else ""  # most accounts: none
    if telemetry:
        excluded += f" AND {counted_telemetry_sql('usage_events', '%(days)s')}"
    cur.execute("DELETE FROM usage_daily WHERE account_id = %(acc)s AND day = ANY(%(days)s)",
                params)
    cur.execute(f"""
        INSERT INTO usage_daily (day, account_id, provider, tool, actor, email, model, events,
                                 input_tokens, output_tokens, cache_write_tokens,
                                 cache_read_tokens, cost_usd, estimated_cost_usd,
                                 unpriced_events, not_charged_events, included_usd)
        SELECT day, account_id, provider, tool, actor, email, model, count(*),
               sum(input_tokens), sum(output_tokens), sum(cache_write_tokens),
               sum(cache_read_tokens), COALESCE(sum(cost_usd), 0),
               COALESCE(sum(cost_usd) FILTER (WHERE cost_source = 'estimated'), 0),
               count(*) FILTER (WHERE cost_source = 'unpriced'),
               count(*) FILTER (WHERE cost_source = 'not_charged'),
               {INCLUDED_USD}
        FROM usage_events
        WHERE account_id = %(acc)s AND day = ANY(%(days)s)
          {excluded}
        GROUP BY day, account_id, provider, tool, actor, email, model
        -- Written in day order: pages read day ranges, and rows of one day stored together
        -- make a 30-day read touch a few thousand pages instead of one page per row.
        ORDER BY day, coalesce(email, actor) COLLATE "C"
    """, params)
    cur.execute("DELETE FROM usage_person_daily WHERE account_id = %(acc)s "
                "AND day = ANY(%(days)s)", params)
    cur.execute("""
        INSERT INTO usage_person_daily (day, account_id, tool, person, mapped, events,
                                        input_tokens, output_tokens, cache_write_tokens,
                                        cache_read_tokens, cost_usd, estimated_cost_usd,
                                        unpriced_events, not_charged_events, included_usd)
        SELECT day, account_id, tool, coalesce(email, actor), bool_or(email IS NOT NULL),
               sum(events), sum(input_tokens), sum(output_tokens), sum(cache_write_tokens),
               sum(cache_read_tokens), sum(cost_usd), sum(estimated_cost_usd),
               sum(unpriced_events), sum(not_charged_events), sum(included_usd)
        FROM usage_daily
        WHERE account_id = %(acc)s AND day = ANY(%(days)s)
        GROUP BY day, account_id, tool, coalesce(email, actor)
        ORDER BY day
    """, params)
    cur.execute("DELETE FROM usage_day_totals WHERE account_id = %(acc)s "
                "AND day = ANY(%(days)s)", params)
    cur.execute("""
        INSERT INTO usage_day_totals (day, account_id, tool, model, events, input_tokens,
                                      output_tokens, cache_write_tokens, cache_read_tokens,
                                      cost_usd, estimated_cost_usd, unpriced_events,
                                      not_charged_events, included_usd)
        SELECT day, account_id, tool, model, sum(events), sum(input_tokens),
               sum(output_tokens), sum(cache_write_tokens), sum(cache_read_tokens),
               sum(cost_usd), sum(estimated_cost_usd), sum(unpriced_events),
               sum(not_charged_events), sum(included_usd)
        FROM usage_daily
        WHERE account_id = %(acc)s AND day = ANY(%(days)s)
        GROUP BY day, account_id, tool, model
        ORDER BY day
    """, params)
    _refresh_day_people(cur, params)
    _refresh_person_blocks(cur, account_id, days)
    _refresh_team_days(cur, "d.account_id = %(acc)s AND d.day = ANY(%(days)s)",
                       "account_id = %(acc)s AND day = ANY(%(days)s)", params)


# The figures every rollup keeps (models.RollupSums).
_ROLLUP_SUMS = ("events", "input_tokens", "output_tokens", "cache_write_tokens",
                "cache_read_tokens", "cost_usd", "estimated_cost_usd", "unpriced_events",
                "not_charged_events", "included_usd")


def _refresh_person_blocks(cur, account_id: int, days: list[date]) -> None:
    """Rebuild the account's usage_person_blocks that hold `days`, level by level: level 1
    from usage_person_daily, each further level from its two halves one level down."""
    sums = ", ".join(_ROLLUP_SUMS)
    for level in range(1, UsagePersonBlock.LEVELS + 1):
        size, half = 1 << level, 1 << (level - 1)
        starts = sorted({UsagePersonBlock.block_start(d, level) for d in days})
        halves = [s + timedelta(days=h) for s in starts for h in (0, half)]
        params = {"acc": account_id, "level": level, "size": size, "starts": starts,
                  "halves": halves, "epoch": UsagePersonBlock.EPOCH}
        cur.execute("DELETE FROM usage_person_blocks WHERE account_id = %(acc)s "
                    "AND level = %(level)s AND start = ANY(%(starts)s)", params)
        if level == 1:  # the halves of a 2-day block are single days
            source = f"""SELECT day AS start, account_id, tool, person, mapped, {sums},
                                day AS first_day, day AS last_day, B'1'::varbit AS days
                         FROM usage_person_daily
                         WHERE account_id = %(acc)s AND day = ANY(%(halves)s)"""
        else:
            source = """SELECT * FROM usage_person_blocks
                        WHERE account_id = %(acc)s AND level = %(level)s - 1
                          AND start = ANY(%(halves)s)"""
        # Each half's day bits land at its offset in the block: pad to the block's size, then
        # shift right by how many days after the block's start the half begins.
        block = "%(epoch)s::date + (c.start - %(epoch)s::date) / %(size)s * %(size)s"
        cur.execute(f"""
            INSERT INTO usage_person_blocks (level, start, account_id, tool, person, mapped,
                                             first_day, last_day, days, {sums})
            SELECT %(level)s, {block}, c.account_id, c.tool, c.person, bool_or(c.mapped),
                   min(c.first_day), max(c.last_day),
                   bit_or((c.days || repeat('0', %(size)s - length(c.days))::varbit)
                          >> (c.start - ({block}))),
                   {", ".join(f"sum(c.{name})" for name in _ROLLUP_SUMS)}
            FROM ({source}) c
            GROUP BY {block}, c.account_id, c.tool, c.person
            -- Written block by block: a page reads every row of a few blocks, and rows of
            -- one block stored together make that a few hundred heap pages, not one per row
            -- (a hash aggregate's output order would scatter them).
            ORDER BY 2
        """, params)


# A bitmap of zeros as long as the people table, for set_bit(): a scalar subquery, which
# PostgreSQL computes once per statement (joined as a row, it was built again for every row).
ZEROS = "(SELECT repeat('0', max(id) + 1)::varbit FROM people)"


def _refresh_day_people(cur, params: dict) -> None:
    """usage_day_people for the account's days: one bitmap of people ids per (day, tool,
    model), from the usage_daily rows just rebuilt."""
    # Number the people seen for the first time. Only the missing ones are inserted: ON
    # CONFLICT alone would draw a sequence value per existing person on every sync and make
    # the bitmaps ever longer. Sorted, so two accounts adding the same new people at once
    # wait for each other instead of deadlocking.
    cur.execute("""
        INSERT INTO people (person)
        SELECT DISTINCT coalesce(d.email, d.actor) FROM usage_daily d
        WHERE d.account_id = %(acc)s AND d.day = ANY(%(days)s)
          AND NOT EXISTS (SELECT 1 FROM people p WHERE p.person = coalesce(d.email, d.actor))
        ORDER BY 1
        ON CONFLICT (person) DO NOTHING
    """, params)
    cur.execute("DELETE FROM usage_day_people WHERE account_id = %(acc)s "
                "AND day = ANY(%(days)s)", params)
    cur.execute(f"""
        INSERT INTO usage_day_people (day, account_id, tool, model, people)
        SELECT d.day, d.account_id, d.tool, d.model, bit_or(set_bit({ZEROS}, p.id, 1))
        FROM usage_daily d
        JOIN people p ON p.person = coalesce(d.email, d.actor)
        WHERE d.account_id = %(acc)s AND d.day = ANY(%(days)s)
        GROUP BY d.day, d.account_id, d.tool, d.model
    """, params)


# Every team's members with their membership days, subtree included: (team_id, person,
# first, last), one row per membership of the team or any team below it. Overlapping rows of
# one person are not merged: the rebuild keeps a usage row once per team if any row holds
# its day (EXISTS), so a person in two sub-teams counts once for the parent, as in
# `analytics.scope.member_spans`.
_TEAM_SPANS = """
    WITH RECURSIVE subtree(team_id, id) AS (
        SELECT id, id FROM teams WHERE {teams}
        UNION ALL
        SELECT s.team_id, t.id FROM teams t JOIN subtree s ON t.parent_id = s.id),
    spans AS (
        SELECT s.team_id, lower(m.person) AS person, m.valid_from AS first,
               coalesce(m.valid_to, 'infinity'::date) AS last
        FROM subtree s JOIN team_memberships m ON m.team_id = s.id)
"""


def _refresh_team_days(cur, rows: str, stored: str, params: dict,
                       teams: str = "true") -> None:
    """Rebuild usage_team_days: the stored rows matching `stored` (SQL over the table), from
    the usage_daily rows `d` matching `rows`, for the teams matching `teams` (SQL over
    `teams`). Bitmaps are over people.id, as in usage_day_people (readers mask bots out)."""
    cur.execute(f"DELETE FROM usage_team_days WHERE {stored}", params)
    cur.execute(_TEAM_SPANS.format(teams=teams) + f"""
        INSERT INTO usage_team_days (team_id, day, account_id, tool, model,
                                     {", ".join(_ROLLUP_SUMS)}, people)
        SELECT tp.team_id, d.day, d.account_id, d.tool, d.model,
               {", ".join(f"sum(d.{c})" for c in _ROLLUP_SUMS)},
               bit_or(set_bit({ZEROS}, tp.pid, 1))
        -- Members with their people.id first (a few thousand rows), then their usage rows:
        -- looked up per usage row, the id cost more than the rest of the statement.
        FROM (SELECT DISTINCT s.team_id, s.person, p.id AS pid
              FROM spans s JOIN people p ON p.person = s.person) tp
        JOIN usage_daily d ON d.email = tp.person
        WHERE {rows}
          AND d.account_id IN (SELECT id FROM accounts)  -- rows outlive no account (its key)
          AND EXISTS (SELECT 1 FROM spans s WHERE s.team_id = tp.team_id
                      AND s.person = tp.person AND d.day BETWEEN s.first AND s.last)
        GROUP BY tp.team_id, d.day, d.account_id, d.tool, d.model
        ORDER BY 1, 2
    """, params)


def _with_ancestors(cur, team_ids: Iterable[int]) -> list[int]:
    cur.execute("""
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM teams WHERE id = ANY(%(ids)s)
            UNION SELECT t.id, t.parent_id FROM teams t JOIN up ON t.id = up.parent_id)
        SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM up""", {"ids": sorted(team_ids)})
    return cur.fetchone()[0]


def _shift_member(cur, person: str, team_ids: list[int]) -> None:
    """Move one person's usage in or out of the rows of `team_ids` (teams whose subtree
    holds a membership of theirs that changed) day by day, to match their memberships now:
    a day they count on now but not in the row's bitmap is added, one the bitmap has but
    they no longer count on is taken out. Sums are additive and the bitmap says what the
    rows hold, so the result is what a rebuild gives, without re-reading every member."""
    cur.execute("SELECT id FROM people WHERE person = %s", (person,))
    row = cur.fetchone()
    if row is None:
        return  # no usage under this address: nothing to move
    params = {"person": person, "pid": row[0], "teams": team_ids}
    sums = ", ".join(f"sum(d.{c}) AS {c}" for c in _ROLLUP_SUMS)
    cur.execute("CREATE TEMP TABLE team_shift ON COMMIT DROP AS "
                + _TEAM_SPANS.format(teams="id = ANY(%(teams)s)") + f""",
        mine AS (
            SELECT a.team_id, d.day, d.account_id, d.tool, d.model, {sums}
            FROM unnest(%(teams)s::int[]) AS a(team_id)
            JOIN usage_daily d ON d.email = %(person)s
            WHERE d.account_id IN (SELECT id FROM accounts)
            GROUP BY a.team_id, d.day, d.account_id, d.tool, d.model)
        SELECT m.*,
               EXISTS (SELECT 1 FROM spans s WHERE s.team_id = m.team_id
                       AND s.person = %(person)s AND m.day BETWEEN s.first AND s.last) AS now_in,
               coalesce((SELECT length(t.people) > %(pid)s AND get_bit(t.people, %(pid)s) = 1
                         FROM usage_team_days t
                         WHERE (t.team_id, t.day, t.account_id, t.tool, t.model)
                             = (m.team_id, m.day, m.account_id, m.tool, m.model)), false)
                   AS then_in
        FROM mine m
    """, params)
    names = ", ".join(_ROLLUP_SUMS)
    widened = ("CASE WHEN length(t.people) > %(pid)s THEN t.people "
               "ELSE t.people || repeat('0', %(pid)s + 1 - length(t.people))::varbit END")
    cur.execute(f"""
        INSERT INTO usage_team_days AS t (team_id, day, account_id, tool, model, {names},
                                          people)
        SELECT team_id, day, account_id, tool, model, {names},
               set_bit(repeat('0', %(pid)s + 1)::varbit, %(pid)s, 1)
        FROM team_shift WHERE now_in AND NOT then_in
        ON CONFLICT (team_id, day, account_id, tool, model) DO UPDATE SET
            {", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in _ROLLUP_SUMS)},
            people = set_bit({widened}, %(pid)s, 1)
    """, params)
    cur.execute(f"""
        UPDATE usage_team_days t SET
            {", ".join(f"{c} = t.{c} - s.{c}" for c in _ROLLUP_SUMS)},
            people = set_bit(t.people, %(pid)s, 0)
        FROM team_shift s
        WHERE s.then_in AND NOT s.now_in
          AND (t.team_id, t.day, t.account_id, t.tool, t.model)
              = (s.team_id, s.day, s.account_id, s.tool, s.model)
    """, params)
    # A row nobody counts in any more goes (a rebuild would not write it).
    cur.execute("""
        DELETE FROM usage_team_days t USING team_shift s
        WHERE s.then_in AND NOT s.now_in AND bit_count(t.people) = 0
          AND (t.team_id, t.day, t.account_id, t.tool, t.model)
              = (s.team_id, s.day, s.account_id, s.tool, s.model)
    """)
    cur.execute("DROP TABLE team_shift")


def _lock_all_accounts(cur) -> None:
    """Ingest's locks on every account: a sync refreshing the same teams' rows for its days
    waits, instead of both writing them. Telemetry accounts last, as ingest takes them
    (an API account's batch takes its own lock, then its telemetry accounts'), so the two
    never wait for each other in a circle."""
    cur.execute("SELECT id, provider = %s FROM accounts ORDER BY 2, 1", (TELEMETRY_PROVIDER,))
    for acc, _telemetry in cur.fetchall():
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE, acc))


def shift_members(pairs: Iterable[tuple[int, str]], session: Session | None = None) -> None:
    """Bring usage_team_days up to date after the memberships of these (team, person) pairs
    changed (added, ended, moved, removed), person by person (`_shift_member`)."""
    teams_of: dict[str, set[int]] = {}
    for team_id, person in pairs:
        teams_of.setdefault(person.lower(), set()).add(team_id)
    raw = (session or db.session).connection().connection.dbapi_connection
    with raw.cursor() as cur:
        _lock_all_accounts(cur)
        for person in sorted(teams_of):
            _shift_member(cur, person, _with_ancestors(cur, teams_of[person]))


def rebuild_team_days(team_ids: Iterable[int], session: Session | None = None) -> list[int]:
    """Rebuild usage_team_days of `team_ids` and every team above them, over every account
    and day, in the current transaction (after memberships or the tree changed; runs on
    commit by itself, see `_rebuild_changed_teams`). Returns the teams rebuilt."""
    ids = sorted(set(team_ids))
    if not ids:
        return []
    raw = (session or db.session).connection().connection.dbapi_connection
    with raw.cursor() as cur:
        affected = _with_ancestors(cur, ids)
        if not affected:
            return []
        _lock_all_accounts(cur)
        cur.execute("SET LOCAL work_mem = '256MB'")
        params = {"teams": affected}
        _refresh_team_days(cur, "true", "team_id = ANY(%(teams)s)", params,
                           teams="id = ANY(%(teams)s)")
    return affected


_MEMBER_DAYS = ("team_id", "person", "valid_from", "valid_to")  # what the rows depend on
_CHANGED_MEMBERS = "abacus.changed_members"  # session.info: (team, person) pairs to shift
_MOVED_TEAMS = "abacus.moved_teams"  # session.info: teams to rebuild (a team moved from/to)
_SHIFT_AT_MOST = 200  # people per commit shifted one by one; more rebuild their teams


@sa_event.listens_for(Session, "after_flush")
def _note_changed_teams(session: Session, _context: Any) -> None:
    """Note the (team, person) pairs a flush changed memberships of, and the teams it moved
    (their old and new parents: a team's own rows hold its subtree, which a move does not
    change)."""
    members: set[tuple[int, str]] = set()
    moved: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        state = sa_inspect(obj)
        if isinstance(obj, TeamMembership):
            if obj in session.dirty and not any(
                    state.attrs[a].history.has_changes() for a in _MEMBER_DAYS):
                continue  # a lead flag or a share: no figure changes
            teams = {obj.team_id, *(state.attrs.team_id.history.deleted or ())}
            people = {obj.person, *(state.attrs.person.history.deleted or ())}
            members.update((t, p) for t in teams for p in people if t and p)
        elif isinstance(obj, Team) and obj not in session.new:
            parent = state.attrs.parent_id.history
            if obj in session.deleted or parent.has_changes():
                moved.update(p for p in (obj.parent_id, *(parent.deleted or ())) if p)
    if members or moved:
        info = session.info
        info.setdefault(UsageTeamDay.CHANGED_TEAMS, set()).update(
            {t for t, _ in members} | moved)
        info.setdefault(_CHANGED_MEMBERS, set()).update(members)
        info.setdefault(_MOVED_TEAMS, set()).update(moved)
        info[UsageTeamDay.TEAM_CHANGES] = info.get(UsageTeamDay.TEAM_CHANGES, 0) + 1


@sa_event.listens_for(Session, "before_commit")
def _rebuild_changed_teams(session: Session) -> None:
    """On commit, bring usage_team_days in line with the memberships and tree it commits:
    a few people's changed memberships shift just their usage in or out of their teams and
    the teams above (`shift_members`); a moved team, or a re-org of many people, rebuilds
    the teams concerned and every team above them (`rebuild_team_days`)."""
    session.flush()  # the commit's own flush comes after this hook
    session.info.pop(UsageTeamDay.CHANGED_TEAMS, None)
    members = session.info.pop(_CHANGED_MEMBERS, set())
    moved = session.info.pop(_MOVED_TEAMS, set())
    if len({p for _, p in members}) > _SHIFT_AT_MOST:
        moved |= {t for t, _ in members}
        members = set()
    if moved:
        rebuild_team_days(moved, session)
    if members:
        shift_members(members, session)


@sa_event.listens_for(Session, "after_rollback")
def _forget_changed_teams(session: Session) -> None:
    for key in (UsageTeamDay.CHANGED_TEAMS, _CHANGED_MEMBERS, _MOVED_TEAMS):
        session.info.pop(key, None)


def rebuild_rollups(account_id: int | None = None) -> int:
    """Recompute every event's day (after an ABACUS_TIMEZONE change) and all rollups."""
    tz = _timezone()
    raw = db.session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        where = "" if account_id is None else "WHERE id = %(acc)s"
        cur.execute(f"SELECT id FROM accounts {where} ORDER BY id", {"acc": account_id})
        accounts = [a for a, in cur.fetchall()]
        for acc in accounts:
            cur.execute("""UPDATE usage_events SET day = (occurred_at AT TIME ZONE %(tz)s)::date
                           WHERE account_id = %(acc)s
                             AND day <> (occurred_at AT TIME ZONE %(tz)s)::date""",
                        {"tz": tz, "acc": acc})
            cur.execute("""SELECT DISTINCT day FROM usage_events WHERE account_id = %(acc)s
                           UNION SELECT DISTINCT day FROM usage_daily WHERE account_id = %(acc)s
                           UNION SELECT DISTINCT day FROM usage_day_totals
                                 WHERE account_id = %(acc)s""", {"acc": acc})
            refresh_daily(cur, acc, [d for d, in cur.fetchall()])
    return len(accounts)


def reattribute(source: str, actors: Iterable[str] | None = None) -> int:
    """Apply identity mappings of `source` to stored events (all actors, or just `actors`)
    of every provider mapped under it (`github`: Copilot).

    Called after mappings change, so past usage follows a newly assigned person. Rollups of
    exactly the (account, day) pairs whose events changed are rebuilt in the same
    transaction. Returns the number of events re-attributed.
    """
    actor_list = None if actors is None else sorted(set(actors))
    if actor_list == []:
        return 0
    raw = db.session.connection().connection.dbapi_connection
    params = {"source": source, "providers": providers_of_source(source),
              "actors": actor_list}
    only = "" if actor_list is None else "AND e.actor = ANY(%(actors)s)"
    with raw.cursor() as cur:
        cur.execute(f"""SELECT DISTINCT e.account_id FROM usage_events e
                        JOIN identity_mappings m ON m.source = %(source)s
                                                AND m.external_id = e.actor
                        WHERE e.provider = ANY(%(providers)s) {only}
                          AND e.email IS DISTINCT FROM m.email
                        ORDER BY 1""", params)
        accounts = [a for a, in cur.fetchall()]
        for acc in accounts:  # same lock as ingest, taken in id order (no deadlocks)
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE, acc))
        cur.execute(f"""UPDATE usage_events e SET email = m.email, updated_at = now()
                        FROM identity_mappings m
                        WHERE m.source = %(source)s AND m.external_id = e.actor
                          AND e.provider = ANY(%(providers)s) {only}
                          AND e.email IS DISTINCT FROM m.email
                        RETURNING e.account_id, e.day""", params)
        rows = cur.fetchall()
        _refresh_touched(cur, rows)
    return len(rows)


def release(source: str, actors: Iterable[str], email: str) -> int:
    """The reverse of `reattribute` after a mapping of `source` was removed: events of these
    actors that carried the mapped `email` go back to the identity itself (its own address
    when the identity is an e-mail, else none: unmapped again). Rollups are rebuilt for
    exactly the days that changed; returns the number of events released."""
    actor_list = sorted(set(actors))
    if not actor_list:
        return 0
    raw = db.session.connection().connection.dbapi_connection
    params = {"source": source, "providers": providers_of_source(source),
              "actors": actor_list, "email": email}
    with raw.cursor() as cur:
        cur.execute("""SELECT DISTINCT account_id FROM usage_daily
                       WHERE provider = ANY(%(providers)s) AND actor = ANY(%(actors)s)
                         AND email = %(email)s""", params)
        _lock_accounts(cur, [a for a, in cur.fetchall()])
        # Only identities without a mapping now: one that still has one keeps following it.
        cur.execute("""UPDATE usage_events e
                        SET email = CASE WHEN e.actor LIKE '%%@%%' THEN lower(e.actor) END,
                            updated_at = now()
                        WHERE e.provider = ANY(%(providers)s) AND e.actor = ANY(%(actors)s)
                          AND e.email = %(email)s
                          AND e.email IS DISTINCT FROM
                              (CASE WHEN e.actor LIKE '%%@%%' THEN lower(e.actor) END)
                          AND NOT EXISTS (SELECT 1 FROM identity_mappings m
                                          WHERE m.source = %(source)s
                                            AND m.external_id = e.actor)
                        RETURNING e.account_id, e.day""", params)
        rows = cur.fetchall()
        _refresh_touched(cur, rows)
    return len(rows)


def _refresh_touched(cur, rows: Iterable[tuple[int, date]]) -> None:
    """Rebuild the rollups of the (account, day) pairs whose events changed."""
    touched: dict[int, set[date]] = {}
    for acc, day in rows:
        touched.setdefault(acc, set()).add(day)
    for acc, days in sorted(touched.items()):
        refresh_daily(cur, acc, sorted(days))


def _lock_accounts(cur, account_ids: Iterable[int]) -> list[int]:
    """Take ingest's per-account lock for each account, in id order (no deadlocks)."""
    ordered = sorted(set(account_ids))
    for acc in ordered:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE, acc))
    return ordered


def move_email(old: str, new: str) -> int:
    """Move every stored event of person `old` to person `new` (all accounts).

    Used to merge two addresses of one person. Each touched account is locked like ingest
    does, and its rollups are rebuilt for exactly the days whose events moved. Returns the
    number of events moved. Mappings are the caller's business (identities.merge_people).
    """
    if old == new:
        return 0
    raw = db.session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        # The rollup knows which accounts hold the person (events and rollups agree).
        cur.execute("SELECT DISTINCT account_id FROM usage_daily WHERE email = %s", (old,))
        _lock_accounts(cur, [a for a, in cur.fetchall()])
        cur.execute("""UPDATE usage_events SET email = %(new)s, updated_at = now()
                       WHERE email = %(old)s RETURNING account_id, day""",
                    {"old": old, "new": new})
        rows = cur.fetchall()
        touched: dict[int, set[date]] = {}
        for acc, day in rows:
            touched.setdefault(acc, set()).add(day)
        for acc, days in sorted(touched.items()):
            refresh_daily(cur, acc, sorted(days))
    return len(rows)


@dataclass
class ReestimateResult:
    model: str
    price_source: str  # shipped | updated | override | unpriced (what the model uses today)
    since: date | None = None  # first day re-estimated (None: every day)
    examined: int = 0  # estimated or unpriced events of the model on those days
    changed: int = 0  # events whose cost or cost source changed
    days_refreshed: int = 0  # (account, day) rollups rebuilt


def reestimate_model(model: str, since: date | None = None,
                     run_id: int | None = None) -> ReestimateResult:
    """Recompute the cost of stored events of `model` that we estimated (or could not price),
    on days from `since` on (all days when None), with the price in force on each event's day.

    Called after a price change that takes effect on `since`: days before it keep their
    estimates, so a change never rewrites the past silently. Provider-reported costs are
    never touched. Each changed field gets a change_log row, and rollups are rebuilt for
    exactly the (account, day) pairs whose events changed, all in the caller's transaction.
    """
    today = prices_on(org_today()).get(model)
    result = ReestimateResult(model, today.source if today else "unpriced", since)
    params = {"model": model, "run": run_id, "since": since or date.min}
    raw = db.session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        cur.execute("""SELECT d.account_id, a.provider, array_agg(DISTINCT d.day)
                       FROM usage_daily d JOIN accounts a ON a.id = d.account_id
                       WHERE d.model = %(model)s AND d.day >= %(since)s
                       GROUP BY d.account_id, a.provider""", params)
        found = {acc: (provider, days) for acc, provider, days in cur.fetchall()}
        if found:
            load_price_segments(cur, price_segments([model]))
        for acc in _lock_accounts(cur, found):
            provider, acc_days = found[acc]
            # Same formula and rounding as ingest's estimate, so a re-sync agrees with it.
            cur.execute(f"""
                DROP TABLE IF EXISTS pg_temp.reestimate;
                CREATE TEMP TABLE reestimate ON COMMIT DROP AS
                SELECT e.id, e.day, e.cost_usd AS old_cost, e.cost_source AS old_source,
                       CASE WHEN p.model IS NOT NULL
                            THEN {cost_sql("e", per_request_events(provider))} END AS new_cost,
                       CASE WHEN p.model IS NOT NULL THEN 'estimated' ELSE 'unpriced' END
                           AS new_source
                FROM usage_events e
                {_price_join("e")}
                WHERE e.account_id = %(acc)s AND e.day = ANY(%(days)s)
                  AND e.model = %(model)s AND e.cost_source IN ('estimated', 'unpriced')
            """, {**params, "acc": acc, "days": acc_days})
            cur.execute("SELECT count(*) FROM reestimate")
            result.examined += cur.fetchone()[0]
            cur.execute("""
                INSERT INTO change_log (event_id, field, old_value, new_value, run_id)
                SELECT r.id, c.field, c.old, c.new, %(run)s
                FROM reestimate r
                CROSS JOIN LATERAL (VALUES ('cost_usd', r.old_cost::text, r.new_cost::text),
                                           ('cost_source', r.old_source, r.new_source))
                    AS c(field, old, new)
                WHERE c.old IS DISTINCT FROM c.new
            """, params)
            cur.execute("""
                UPDATE usage_events e SET cost_usd = r.new_cost, cost_source = r.new_source,
                                          updated_at = now(),
                                          last_run_id = COALESCE(%(run)s, e.last_run_id)
                FROM reestimate r
                WHERE e.id = r.id
                  AND (r.old_cost, r.old_source) IS DISTINCT FROM (r.new_cost, r.new_source)
                RETURNING r.day
            """, params)
            changed_days = [d for d, in cur.fetchall()]
            result.changed += len(changed_days)
            cur.execute("DROP TABLE pg_temp.reestimate")
            days = sorted(set(changed_days))
            if days:
                refresh_daily(cur, acc, days)
                result.days_refreshed += len(days)
    return result


@dataclass
class RecanonicalizeResult:
    renamed: dict[tuple[str, str], int] = field(default_factory=dict)  # (old, new) -> events
    reestimated: int = 0  # renamed events whose estimated/unpriced cost changed
    days_refreshed: int = 0  # (account, day) rollups rebuilt

    @property
    def events(self) -> int:
        return sum(self.renamed.values())


def recanonicalize_models(run_id: int | None = None) -> RecanonicalizeResult:
    """Re-derive every stored event's `model` from its `raw_model` with the current
    `canonical_model`, after an upgrade taught it new names (`gpt-5-high` is now `gpt-5`).

    Renamed events that we estimated or could not price are priced again with the current
    table, as ingest would price them today; provider-reported costs are never touched. Each
    changed field gets a change_log row and the touched rollups are rebuilt, in the caller's
    transaction. A second run changes nothing.
    """
    result = RecanonicalizeResult()
    raw = db.session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        # One row per distinct (raw, model) pair: the Python side sees names, not events.
        cur.execute("SELECT DISTINCT raw_model, model FROM usage_events")
        moves = [(r, m, canonical_model(r)) for r, m in cur.fetchall()]
        moves = [mv for mv in moves if mv[2] != mv[1]]
        if not moves:
            return result
        cur.execute("""CREATE TEMP TABLE recanon (raw_model text, old_model text,
                                                  new_model text) ON COMMIT DROP""")
        cur.execute("INSERT INTO recanon VALUES " + ",".join(
            cur.mogrify("(%s,%s,%s)", mv).decode() for mv in moves))
        load_price_segments(cur, price_segments(sorted({mv[2] for mv in moves})))
        cur.execute("""SELECT DISTINCT e.account_id FROM usage_events e
                       JOIN recanon r ON r.raw_model = e.raw_model AND r.old_model = e.model""")
        _lock_accounts(cur, [a for a, in cur.fetchall()])
        # Same formula and rounding as ingest's estimate (long-context tiers only for providers
        # that report one event per request).
        per_request = sorted(pid for pid, p in providers().items()
                             if p.capabilities.per_request_events)
        cur.execute(f"""
            CREATE TEMP TABLE recanon_events ON COMMIT DROP AS
            SELECT e.id, e.account_id, e.day, e.model AS old_model, r.new_model,
                   e.cost_usd AS old_cost, e.cost_source AS old_source,
                   CASE WHEN e.cost_source NOT IN ('estimated', 'unpriced') THEN e.cost_usd
                        WHEN p.model IS NOT NULL AND a.provider = ANY(%(per_request)s)
                             THEN {cost_sql("e", True)}
                        WHEN p.model IS NOT NULL THEN {cost_sql("e", False)} END AS new_cost,
                   CASE WHEN e.cost_source NOT IN ('estimated', 'unpriced') THEN e.cost_source
                        WHEN p.model IS NOT NULL THEN 'estimated'
                        ELSE 'unpriced' END AS new_source
            FROM usage_events e
            JOIN recanon r ON r.raw_model = e.raw_model AND r.old_model = e.model
            JOIN accounts a ON a.id = e.account_id
            LEFT JOIN ingest_prices p ON p.model = r.new_model AND e.day >= p.valid_from
                                     AND e.day < p.valid_to
        """, {"per_request": per_request})
        cur.execute("""
            INSERT INTO change_log (event_id, field, old_value, new_value, run_id)
            SELECT x.id, c.field, c.old, c.new, %(run)s
            FROM recanon_events x
            CROSS JOIN LATERAL (VALUES ('model', x.old_model, x.new_model),
                                       ('cost_usd', x.old_cost::text, x.new_cost::text),
                                       ('cost_source', x.old_source, x.new_source))
                AS c(field, old, new)
            WHERE c.old IS DISTINCT FROM c.new
        """, {"run": run_id})
        cur.execute("""
            UPDATE usage_events e SET model = x.new_model, cost_usd = x.new_cost,
                                      cost_source = x.new_source, updated_at = now(),
                                      last_run_id = COALESCE(%(run)s, e.last_run_id)
            FROM recanon_events x WHERE e.id = x.id
        """, {"run": run_id})
        cur.execute("""SELECT old_model, new_model, count(*),
                              count(*) FILTER (WHERE (old_cost, old_source)
                                               IS DISTINCT FROM (new_cost, new_source))
                       FROM recanon_events GROUP BY 1, 2 ORDER BY 1, 2""")
        for old, new, n, repriced in cur.fetchall():
            result.renamed[(old, new)] = n
            result.reestimated += repriced
        cur.execute("""SELECT account_id, array_agg(DISTINCT day ORDER BY day)
                       FROM recanon_events GROUP BY account_id ORDER BY account_id""")
        for acc, days in cur.fetchall():
            refresh_daily(cur, acc, days)
            result.days_refreshed += len(days)
        cur.execute("DROP TABLE pg_temp.recanon_events, pg_temp.recanon")
    return result
