"""Ingest: idempotent upserts, change tracking, rollups that always equal the events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from abacus.extensions import db
from abacus.models import Account, ChangeLog, IdentityMapping, ModelPrice, UsageEvent
from abacus.providers.base import UsageRecord
from abacus.usage.ingest import ingest
from abacus.usage.pricing import FAR_PAST

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_account(name: str = "team", provider: str = "cursor") -> Account:
    acc = Account(provider=provider, name=name)
    db.session.add(acc)
    db.session.flush()
    return acc


def rec(key: str, *, minutes: int = 0, actor: str = "ann@example.com", model: str = "gpt-5",
        inp: int = 100, out: int = 10, cw: int = 0, cr: int = 0,
        cost: Decimal | None = Decimal("0.5"), tool: str = "cursor",
        email: str | None = "ann@example.com", kind: str = "Usage-based") -> UsageRecord:
    return UsageRecord(event_key=key, occurred_at=T0 + timedelta(minutes=minutes), tool=tool,
                       actor=actor, email=email, raw_model=model, kind=kind, input_tokens=inp,
                       output_tokens=out, cache_write_tokens=cw, cache_read_tokens=cr,
                       cost_usd=cost)


# The figures of a group of usage_events, and the same figures as a rollup row stores them.
EVENT_SUMS = """count(*) AS events, sum(input_tokens) i, sum(output_tokens) o,
    sum(cache_write_tokens) cw, sum(cache_read_tokens) cr, COALESCE(sum(cost_usd), 0) AS cost,
    count(*) FILTER (WHERE cost_source = 'unpriced') AS unpriced,
    COALESCE(sum(COALESCE(cost_usd, 0) - (extras->>'billed_usd')::numeric)
                 FILTER (WHERE tool = 'copilot' AND extras ? 'billed_usd'), 0)
      + COALESCE(sum(COALESCE(cost_usd, 0))
                 FILTER (WHERE tool = 'cursor' AND kind ILIKE '%included%'), 0) AS included"""
ROLLUP_SUMS = """events, input_tokens i, output_tokens o, cache_write_tokens cw,
    cache_read_tokens cr, cost_usd cost, unpriced_events unpriced, included_usd included"""


def differences(aggregate: str, rollup: str) -> list:
    """Rows that one of two queries returns and the other does not (both directions)."""
    return db.session.execute(text(f"""
        WITH agg AS ({aggregate}), roll AS ({rollup})
        (SELECT * FROM agg EXCEPT ALL SELECT * FROM roll)
        UNION ALL
        (SELECT * FROM roll EXCEPT ALL SELECT * FROM agg)""")).all()


def rollup_mismatches() -> list:
    """Rows where a rollup differs from the aggregate over usage_events: usage_daily, the
    team-wide rollup (no person dimension) and the per-person one (no model)."""
    return (
        differences(f"""SELECT day, account_id, tool, actor, email, model, {EVENT_SUMS}
                        FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6""",
                    f"""SELECT day, account_id, tool, actor, email, model, {ROLLUP_SUMS}
                        FROM usage_daily""")
        + differences(f"""SELECT day, account_id, tool, model, {EVENT_SUMS}
                          FROM usage_events GROUP BY 1, 2, 3, 4""",
                      f"""SELECT day, account_id, tool, model, {ROLLUP_SUMS}
                          FROM usage_day_totals""")
        + differences(f"""SELECT day, account_id, tool, coalesce(email, actor) AS person,
                                 bool_or(email IS NOT NULL) AS mapped, {EVENT_SUMS}
                          FROM usage_events GROUP BY 1, 2, 3, 4""",
                      f"""SELECT day, account_id, tool, person, mapped, {ROLLUP_SUMS}
                          FROM usage_person_daily"""))


def test_new_events_are_inserted_and_rolled_up(ctx):
    acc = make_account()
    res = ingest(acc, [rec("a"), rec("b", minutes=1, inp=50), rec("c", minutes=60 * 24)])
    db.session.commit()
    assert (res.inserted, res.updated, res.unchanged) == (3, 0, 0)
    assert res.days_refreshed == [T0.date(), T0.date() + timedelta(days=1)]
    assert rollup_mismatches() == []
    day = db.session.execute(text(
        "SELECT events, input_tokens, cost_usd FROM usage_daily WHERE day = :d"),
        {"d": T0.date()}).one()
    assert day == (2, 150, Decimal("1.000000"))


def test_included_usage_is_rolled_up_with_the_rest(ctx):
    """Seat-included usage (Cursor's included kinds, Copilot's gross minus billed) is kept in
    every rollup, equal to the same sum over the events."""
    cursor, copilot = make_account("cur"), make_account("gh", "copilot")
    ingest(cursor, [rec("a", kind="Included in Business", cost=Decimal("0.40")),
                    rec("b", minutes=1, kind="Usage-based", cost=Decimal("1.00")),
                    rec("c", minutes=60 * 24, kind="Included", cost=Decimal("0.10"))])
    billed = rec("d", tool="copilot", kind="", cost=Decimal("3.00"))
    billed.extras["billed_usd"] = "1.25"
    ingest(copilot, [billed])
    db.session.commit()
    assert rollup_mismatches() == []
    assert db.session.execute(text("SELECT sum(included_usd) FROM usage_day_totals")
                              ).scalar() == Decimal("2.250000")  # 0.40 + 0.10 + (3 - 1.25)
    assert db.session.execute(text(
        "SELECT sum(included_usd) FROM usage_person_blocks WHERE level = 1")
    ).scalar() == Decimal("2.250000")


def test_resending_the_same_batch_changes_nothing(ctx):
    acc = make_account()
    batch = [rec("a"), rec("b", minutes=1)]
    ingest(acc, batch)
    db.session.commit()
    before = db.session.execute(text("SELECT id, updated_at FROM usage_events ORDER BY id")).all()
    res = ingest(acc, batch)
    db.session.commit()
    assert (res.inserted, res.updated, res.unchanged, res.changes) == (0, 0, 2, 0)
    assert res.days_refreshed == []
    after = db.session.execute(text("SELECT id, updated_at FROM usage_events ORDER BY id")).all()
    assert after == before


def test_a_revision_updates_the_event_and_logs_each_changed_field(ctx):
    acc = make_account()
    ingest(acc, [rec("a", cost=Decimal("0.50"), out=10)])
    db.session.commit()
    res = ingest(acc, [rec("a", cost=Decimal("0.75"), out=12)], run_id=None)
    db.session.commit()
    assert (res.inserted, res.updated, res.unchanged, res.changes) == (0, 1, 0, 2)
    event = db.session.execute(select(UsageEvent)).scalar_one()
    assert event.cost_usd == Decimal("0.75") and event.output_tokens == 12
    log = {c.field: (c.old_value, c.new_value) for c in db.session.execute(
        select(ChangeLog)).scalars()}
    assert log == {"cost_usd": ("0.500000", "0.750000"), "output_tokens": ("10", "12")}
    assert rollup_mismatches() == []


def test_a_revision_that_moves_an_event_to_a_new_day_is_an_update(ctx):
    # The batch's day holds no events of the account, but its key is stored on another
    # day: still one event, revised, with both days' rollups rebuilt.
    acc = make_account()
    ingest(acc, [rec("a"), rec("b", minutes=1)])
    db.session.commit()
    res = ingest(acc, [rec("a", minutes=60 * 24 * 3)])
    db.session.commit()
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 0)
    assert res.days_refreshed == [T0.date(), T0.date() + timedelta(days=3)]
    days = db.session.execute(text(
        "SELECT event_key, day FROM usage_events ORDER BY event_key")).all()
    assert days == [("a", T0.date() + timedelta(days=3)), ("b", T0.date())]
    log = {c.field for c in db.session.execute(select(ChangeLog)).scalars()}
    assert log == {"occurred_at", "day"}
    assert rollup_mismatches() == []


def test_same_key_twice_in_a_batch_keeps_both_events(ctx):
    acc = make_account()
    batch = [rec("dup", inp=1), rec("dup", inp=2), rec("dup", inp=3)]
    res = ingest(acc, batch)
    db.session.commit()
    assert res.inserted == 3
    keys = db.session.execute(select(UsageEvent.event_key).order_by(
        UsageEvent.input_tokens)).scalars().all()
    assert keys == ["dup", "dup#2", "dup#3"]
    # Re-sent in another order: same ordinals, nothing changes.
    res = ingest(acc, list(reversed(batch)))
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, 3)


def test_missing_cost_is_estimated_and_unknown_model_is_unpriced(ctx):
    acc = make_account()
    res = ingest(acc, [
        rec("est", model="claude-sonnet-4-5-20250929", inp=100_000, out=0, cost=None),
        rec("unk", model="mystery-model-9", cost=None),
    ])
    db.session.commit()
    events = {e.event_key: e for e in db.session.execute(select(UsageEvent)).scalars()}
    assert events["est"].model == "sonnet-4.5"
    assert events["est"].raw_model == "claude-sonnet-4-5-20250929"
    assert (events["est"].cost_source, events["est"].cost_usd) == ("estimated", Decimal("0.3"))
    assert (events["unk"].cost_source, events["unk"].cost_usd) == ("unpriced", None)
    assert res.unpriced_models == {"mystery-model-9": 1}
    daily = db.session.execute(text(
        "SELECT sum(estimated_cost_usd), sum(unpriced_events) FROM usage_daily")).one()
    assert daily == (Decimal("0.300000"), 1)


def test_suffixed_names_are_priced_as_their_model_and_keep_the_raw_name(ctx):
    # Cursor's effort/speed slugs and a Gemini preview date: priced as the base model, the
    # suffix stays visible in raw_model (Raw usage). Requests stay under the long-context
    # thresholds (Cursor reports one event per request, so those rates could apply).
    acc = make_account()
    ingest(acc, [
        rec("codex", model="gpt-5.3-codex-xhigh-fast", inp=100_000, out=10_000, cost=None),
        rec("gemini", model="gemini-2.5-pro-preview-05-06", inp=200_000, out=0, cost=None),
        rec("turbo", model="gpt-3.5-turbo-0125", inp=1_000_000, out=1_000_000, cost=None),
    ])
    db.session.commit()
    events = {e.event_key: e for e in db.session.execute(select(UsageEvent)).scalars()}
    got = {k: (e.model, e.raw_model, e.cost_source, e.cost_usd) for k, e in events.items()}
    assert got == {
        # gpt-5.3-codex: $1.75 in, $14 out per 1M -> 0.175 + 0.14, and `-fast` is fast mode
        # (the table's 2x multiplier)
        "codex": ("gpt-5.3-codex", "gpt-5.3-codex-xhigh-fast", "estimated", Decimal("0.63")),
        # gemini-2.5-pro: $1.25 in per 1M (pricing.md §4)
        "gemini": ("gemini-2.5-pro", "gemini-2.5-pro-preview-05-06", "estimated",
                   Decimal("0.25")),
        # gpt-3.5-turbo: $0.50 in, $1.50 out per 1M
        "turbo": ("gpt-3.5-turbo", "gpt-3.5-turbo-0125", "estimated", Decimal("2")),
    }


def test_admin_price_override_wins(ctx):
    acc = make_account()
    db.session.add(ModelPrice(model="sonnet-4.5", valid_from=FAR_PAST, source="override",
                              input=Decimal("1"), output=Decimal("1"),
                              cache_write_5m=Decimal("1"), cache_read=Decimal("1")))
    ingest(acc, [rec("x", model="claude-sonnet-4-5", inp=2_000_000, out=0, cost=None)])
    event = db.session.execute(select(UsageEvent)).scalar_one()
    assert event.cost_usd == Decimal("2")


def test_identity_mapping_resolves_email(ctx):
    acc = make_account(provider="anthropic")
    db.session.add(IdentityMapping(source="anthropic", external_id="key-ci",
                                   email="bo@example.com"))
    ingest(acc, [rec("k1", actor="key-ci", email=None, tool="claude_code")])
    assert db.session.execute(select(UsageEvent.email)).scalar_one() == "bo@example.com"


def test_accounts_are_kept_apart(ctx):
    a, b = make_account("a"), make_account("b")
    ingest(a, [rec("same")])
    res = ingest(b, [rec("same")])
    assert res.inserted == 1
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar_one() == 2


def test_day_boundary_follows_org_timezone(app, app_env):
    from abacus import create_app

    berlin = create_app({**app_env, "ABACUS_TIMEZONE": "Europe/Berlin"}, dotenv=False)
    with berlin.app_context():
        acc = make_account()
        late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 March in Berlin
        ingest(acc, [UsageRecord(event_key="tz", occurred_at=late, tool="cursor", actor="x",
                                 raw_model="gpt-5", cost_usd=Decimal("1"))])
        db.session.commit()
        assert str(db.session.execute(select(UsageEvent.day)).scalar_one()) == "2026-03-02"
        db.session.remove()


# --- property: any sequence of batches keeps the invariants ------------------------------

record_strategy = st.builds(
    lambda key, actor, model, day, minute, inp, out, cw, cr, cost: UsageRecord(
        event_key=f"k{key}", occurred_at=T0 + timedelta(days=day, minutes=minute),
        tool="cursor", actor=actor, email=actor, raw_model=model, input_tokens=inp,
        output_tokens=out, cache_write_tokens=cw, cache_read_tokens=cr, cost_usd=cost),
    key=st.integers(0, 12),
    actor=st.sampled_from(["ann@example.com", "bo@example.com"]),
    model=st.sampled_from(["gpt-5", "claude-4.5-sonnet", "auto", "nope-1"]),
    day=st.integers(0, 3), minute=st.integers(0, 5),
    inp=st.integers(0, 10**9), out=st.integers(0, 1000), cw=st.integers(0, 50),
    cr=st.integers(0, 50),
    cost=st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=2)),
)


def _expected_state(batches):
    """What the events table should hold: per key (with ordinals), the last version seen."""
    state = {}
    for batch in batches:
        groups: dict[str, list] = {}
        for r in batch:
            groups.setdefault(r.event_key, []).append(r)
        for key, rs in groups.items():
            rs = sorted(rs, key=lambda r: (r.input_tokens, r.output_tokens,
                                           r.cache_write_tokens, r.cache_read_tokens,
                                           r.cost_usd is None, r.cost_usd or 0))
            for i, r in enumerate(rs, 1):
                state[key if i == 1 else f"{key}#{i}"] = r
    return state


def stored_view(r: UsageRecord) -> dict:
    """The fields ingest stores for a record, computed independently of ingest."""
    from abacus.usage.pricing import PriceBook, canonical_model

    model = canonical_model(r.raw_model)
    # Cursor events are per request: long-context rates apply above a model's threshold.
    estimate = PriceBook.shipped().estimate(model, r.input_tokens, r.output_tokens,
                                            r.cache_write_tokens, r.cache_read_tokens,
                                            per_request=True)
    cost = r.cost_usd if r.cost_usd is not None else estimate
    source = ("provider" if r.cost_usd is not None
              else "estimated" if estimate is not None else "unpriced")
    return {"occurred_at": r.occurred_at, "day": r.occurred_at.date(), "actor": r.actor,
            "email": r.email, "model": model, "raw_model": r.raw_model,
            "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
            "cache_write_tokens": r.cache_write_tokens,
            "cache_read_tokens": r.cache_read_tokens,
            "cost_usd": None if cost is None else Decimal(cost).quantize(Decimal("0.000001")),
            "cost_source": source}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(batches=st.lists(st.lists(record_strategy, max_size=12), min_size=1, max_size=5),
       repeat=st.booleans(), shuffle_seed=st.randoms(use_true_random=False))
def test_property_any_batches_keep_invariants(ctx, batches, repeat, shuffle_seed):
    nested = db.session.begin_nested()
    try:
        acc = make_account("prop")
        if repeat:  # re-send every batch once more, reordered
            batches = batches + [shuffle_seed.sample(b, len(b)) for b in batches]
        expected_changes = 0
        seen: dict[str, UsageRecord] = {}
        for batch in batches:
            # Real field changes this batch should log, from a plain Python model.
            for key, new in _expected_state([batch]).items():
                if key in seen:
                    old_view, new_view = stored_view(seen[key]), stored_view(new)
                    expected_changes += sum(old_view[f] != new_view[f] for f in old_view)
                seen[key] = new
            ingest(acc, batch)
        db.session.flush()
        # No duplicates: exactly one stored event per distinct key (with ordinals).
        keys = db.session.execute(select(UsageEvent.event_key).where(
            UsageEvent.account_id == acc.id)).scalars().all()
        assert len(keys) == len(set(keys))
        assert set(keys) == set(seen)
        # Stored values are the last version of each event.
        for e in db.session.execute(select(UsageEvent).where(
                UsageEvent.account_id == acc.id)).scalars():
            view = stored_view(seen[e.event_key])
            assert {f: getattr(e, f) for f in view} == view
        # Rollup equals the aggregate over events.
        assert rollup_mismatches() == []
        # One change_log row per real change.
        logged = db.session.execute(select(func.count(ChangeLog.id))).scalar_one()
        assert logged == expected_changes
    finally:
        nested.rollback()


def test_text_with_tabs_newlines_and_backslashes_survives_copy(ctx):
    acc = make_account()
    tricky = "a\tb\\c\nd\re 'q' \"dq\" ünï"
    ingest(acc, [UsageRecord(event_key=tricky, occurred_at=T0, tool="cursor", actor=tricky,
                             email=None, raw_model=tricky, kind=tricky,
                             extras={"note": tricky, "n": 1, "flag": True})])
    e = db.session.execute(select(UsageEvent)).scalar_one()
    assert (e.event_key, e.actor, e.raw_model, e.kind) == (tricky,) * 4
    assert e.email is None
    assert e.extras == {"note": tricky, "n": 1, "flag": True}
    # Re-sent unchanged: nothing to update (the text round-trips exactly).
    again = ingest(acc, [UsageRecord(event_key=tricky, occurred_at=T0, tool="cursor",
                                     actor=tricky, email=None, raw_model=tricky, kind=tricky,
                                     extras={"note": tricky, "n": 1, "flag": True})])
    assert (again.unchanged, again.updated) == (1, 0)


def test_only_the_days_that_changed_are_rebuilt(ctx):
    acc = make_account()
    ingest(acc, [rec("a"), rec("b", minutes=60 * 24)])  # day 1 and day 2
    db.session.commit()
    ids = dict(db.session.execute(text("SELECT day, id FROM usage_daily")).all())
    res = ingest(acc, [rec("a"), rec("b", minutes=60 * 24, out=99)])  # revise day 2 only
    assert res.days_refreshed == [T0.date() + timedelta(days=1)]
    after = dict(db.session.execute(text("SELECT day, id FROM usage_daily")).all())
    assert after[T0.date()] == ids[T0.date()]  # day 1's rollup row was not touched
    assert after[T0.date() + timedelta(days=1)] != ids[T0.date() + timedelta(days=1)]
    assert rollup_mismatches() == []


def test_recanonicalize_renames_stored_models_and_prices_what_was_unpriced(ctx, app):
    from abacus.usage.ingest import recanonicalize_models

    acc = make_account()
    ingest(acc, [
        rec("high", model="gpt-5-high", inp=1_000_000, out=0, cost=None),
        rec("charged", minutes=1, model="gpt-5-high", cost=Decimal("0.42")),
        rec("plain", minutes=2, model="gpt-5", inp=1_000_000, out=0, cost=None),
    ])
    db.session.commit()
    # As an older Abacus stored them: the suffix was part of the model, so it was unpriced.
    db.session.execute(text("""UPDATE usage_events SET model = 'gpt-5-high', cost_usd = NULL,
                               cost_source = 'unpriced' WHERE event_key = 'high'"""))
    db.session.execute(text("""UPDATE usage_events SET model = 'gpt-5-high'
                               WHERE event_key = 'charged'"""))
    from abacus.usage.ingest import refresh_daily
    raw = db.session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        refresh_daily(cur, acc.id, [T0.date()])
    db.session.commit()

    result = recanonicalize_models()
    db.session.commit()
    assert (result.renamed, result.reestimated) == ({("gpt-5-high", "gpt-5"): 2}, 1)
    events = {e.event_key: e for e in db.session.execute(select(UsageEvent)).scalars()}
    got = {k: (e.model, e.raw_model, e.cost_source, e.cost_usd) for k, e in events.items()}
    assert got == {
        "high": ("gpt-5", "gpt-5-high", "estimated", Decimal("1.25")),  # $1.25 per 1M input
        "charged": ("gpt-5", "gpt-5-high", "provider", Decimal("0.42")),  # never re-priced
        "plain": ("gpt-5", "gpt-5", "estimated", Decimal("1.25")),
    }
    logged = db.session.execute(select(ChangeLog.field, ChangeLog.old_value, ChangeLog.new_value)
                                .order_by(ChangeLog.id)).all()
    assert sorted(logged) == sorted([("model", "gpt-5-high", "gpt-5")] * 2 + [
        ("cost_usd", None, "1.250000"), ("cost_source", "unpriced", "estimated")])
    assert rollup_mismatches() == []
    daily = db.session.execute(text(
        "SELECT model, events, unpriced_events FROM usage_daily")).all()
    assert daily == [("gpt-5", 3, 0)]

    # Re-running changes nothing; the CLI reports it.
    out = app.test_cli_runner().invoke(args=["abacus", "models", "recanonicalize"])
    assert out.exit_code == 0, out.output
    assert "0 event(s) renamed, 0 re-priced" in out.output
    assert db.session.execute(select(func.count(ChangeLog.id))).scalar_one() == 4
