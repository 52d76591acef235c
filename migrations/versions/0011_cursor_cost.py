"""cost_source may be 'not_charged'; rollups count not-charged events; stored Cursor events
whose kind says they were not charged become $0

Revision ID: 0011_cursor_cost
Revises: 0010_openai
Create Date: 2026-12-03 12:00:00

Events stored before this revision kept whatever cost their row carried (an errored row's
`Cost`, an aborted event's `chargedCents`) or were estimated. They now cost $0 with the old
figure kept in extras as `would_have_cost_usd`, a change_log row per changed field, and the
rollups of exactly the (account, day) pairs touched recomputed.
"""
import sqlalchemy as sa
from alembic import op

from abacus.providers.cursor_events import is_not_charged

revision = "0011_cursor_cost"
down_revision = "0010_openai"
branch_labels = None
depends_on = None

NEW = "cost_source IN ('provider', 'estimated', 'unpriced', 'not_charged')"
OLD = "cost_source IN ('provider', 'estimated', 'unpriced')"
ROLLUPS = ("usage_daily", "usage_person_daily", "usage_day_totals", "usage_person_blocks")
SUMS = ("cost_usd", "estimated_cost_usd", "unpriced_events", "not_charged_events")


def upgrade():
    op.drop_constraint(op.f("ck_usage_events_cost_source_valid"), "usage_events",
                       type_="check")
    op.create_check_constraint(op.f("ck_usage_events_cost_source_valid"), "usage_events", NEW)
    for table in ROLLUPS:
        op.add_column(table, sa.Column("not_charged_events", sa.BigInteger(), nullable=False,
                                       server_default="0"))
    _zero_not_charged_events()


def _zero_not_charged_events() -> None:
    bind = op.get_bind()
    kinds = [k for k, in bind.execute(sa.text(
        "SELECT DISTINCT kind FROM usage_events WHERE tool = 'cursor'"))
        if is_not_charged(k)]
    if not kinds:
        return
    bind.execute(sa.text("""
        CREATE TEMP TABLE nc_events ON COMMIT DROP AS
        SELECT id, account_id, day, cost_usd AS old_cost, cost_source AS old_source,
               extras AS old_extras,
               CASE WHEN cost_source = 'provider' AND cost_usd <> 0
                    THEN extras || jsonb_build_object('would_have_cost_usd', cost_usd::text)
                    ELSE extras END AS new_extras
        FROM usage_events
        WHERE tool = 'cursor' AND kind = ANY(:kinds) AND cost_source <> 'not_charged'
    """), {"kinds": kinds})
    bind.execute(sa.text("""
        INSERT INTO change_log (event_id, field, old_value, new_value)
        SELECT n.id, c.field, c.old, c.new FROM nc_events n
        CROSS JOIN LATERAL (VALUES ('cost_usd', n.old_cost::text, '0.000000'),
                                   ('cost_source', n.old_source, 'not_charged'),
                                   ('extras', n.old_extras::text, n.new_extras::text))
            AS c(field, old, new)
        WHERE c.old IS DISTINCT FROM c.new
    """))
    bind.execute(sa.text("""
        UPDATE usage_events e SET cost_usd = 0, cost_source = 'not_charged',
                                  extras = n.new_extras, updated_at = now()
        FROM nc_events n WHERE e.id = n.id
    """))
    # The rollups' rows keep their keys (events neither appear nor move): only the cost
    # figures and the counts change, recomputed from one level down.
    touched = "(SELECT DISTINCT account_id, day FROM nc_events)"
    sets = ", ".join(f"{s} = x.{s}" for s in SUMS)
    bind.execute(sa.text(f"""
        UPDATE usage_daily d SET {sets}
        FROM (SELECT day, account_id, provider, tool, actor, email, model,
                     COALESCE(sum(cost_usd), 0) AS cost_usd,
                     COALESCE(sum(cost_usd) FILTER (WHERE cost_source = 'estimated'), 0)
                         AS estimated_cost_usd,
                     count(*) FILTER (WHERE cost_source = 'unpriced') AS unpriced_events,
                     count(*) FILTER (WHERE cost_source = 'not_charged') AS not_charged_events
              FROM usage_events WHERE (account_id, day) IN {touched}
              GROUP BY day, account_id, provider, tool, actor, email, model) x
        WHERE (d.day, d.account_id, d.provider, d.tool, d.actor, d.model)
              = (x.day, x.account_id, x.provider, x.tool, x.actor, x.model)
          AND d.email IS NOT DISTINCT FROM x.email
    """))
    summed = ", ".join(f"sum({s}) AS {s}" for s in SUMS)
    bind.execute(sa.text(f"""
        UPDATE usage_person_daily p SET {sets}
        FROM (SELECT day, account_id, tool, coalesce(email, actor) AS person, {summed}
              FROM usage_daily WHERE (account_id, day) IN {touched}
              GROUP BY day, account_id, tool, coalesce(email, actor)) x
        WHERE (p.day, p.account_id, p.tool, p.person) = (x.day, x.account_id, x.tool, x.person)
    """))
    bind.execute(sa.text(f"""
        UPDATE usage_day_totals t SET {sets}
        FROM (SELECT day, account_id, tool, model, {summed}
              FROM usage_daily WHERE (account_id, day) IN {touched}
              GROUP BY day, account_id, tool, model) x
        WHERE (t.day, t.account_id, t.tool, t.model) = (x.day, x.account_id, x.tool, x.model)
    """))
    bind.execute(sa.text(f"""
        UPDATE usage_person_blocks b SET {sets}
        FROM (SELECT b.level, b.start, b.account_id, b.tool, b.person,
                     {", ".join(f"sum(p.{s}) AS {s}" for s in SUMS)}
              FROM usage_person_blocks b
              JOIN usage_person_daily p
                ON (p.account_id, p.tool, p.person) = (b.account_id, b.tool, b.person)
               AND p.day >= b.start AND p.day < b.start + (1 << b.level)
              WHERE EXISTS (SELECT 1 FROM nc_events n WHERE n.account_id = b.account_id
                              AND n.day >= b.start AND n.day < b.start + (1 << b.level))
              GROUP BY b.level, b.start, b.account_id, b.tool, b.person) x
        WHERE (b.level, b.start, b.account_id, b.tool, b.person)
              = (x.level, x.start, x.account_id, x.tool, x.person)
    """))


def downgrade():
    # Older code knows no 'not_charged': those events read as reported $0.
    op.execute("UPDATE usage_events SET cost_source = 'provider' "
               "WHERE cost_source = 'not_charged'")
    for table in ROLLUPS:
        op.drop_column(table, "not_charged_events")
    op.drop_constraint(op.f("ck_usage_events_cost_source_valid"), "usage_events",
                       type_="check")
    op.create_check_constraint(op.f("ck_usage_events_cost_source_valid"), "usage_events", OLD)
