"""Performance at a year's scale: rollups keep included_usd (seat-included usage, so Seats and
the person page stop summing raw events), indexes for Copilot rows, a person's raw events and
unmapped rollup rows; usage_events.account_id loses its foreign key (a per-row check that cost
bulk imports a tenth of their time: a trigger keeps the cascade, ingest a key-share lock).

Revision ID: 0020_perf
Revises: 0019_telemetry
Create Date: 2026-12-03 13:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_perf"
down_revision = "0019_telemetry"
branch_labels = None
depends_on = None

ROLLUPS = ("usage_daily", "usage_day_totals", "usage_person_daily", "usage_person_blocks")
# The rule of usage.ingest.INCLUDED_USD, as it stood when this migration was written.
INCLUDED = """COALESCE(sum(CASE
    WHEN tool = 'copilot' AND extras ? 'billed_usd'
        THEN COALESCE(cost_usd, 0) - (extras->>'billed_usd')::numeric
    WHEN tool = 'cursor' AND kind ILIKE '%included%' THEN COALESCE(cost_usd, 0)
    ELSE 0 END), 0)"""


def upgrade():
    for table in ROLLUPS:
        op.add_column(table, sa.Column("included_usd", sa.Numeric(18, 6), nullable=False,
                                       server_default="0"))
    _backfill_included()
    # Copilot's per-person-day rows (the Usage page's Copilot view, the person page).
    op.execute("CREATE INDEX ix_usage_events_copilot_day ON usage_events (day) "
               "WHERE tool = 'copilot'")
    # One person's raw records (the Raw usage tab and its CSV) without reading whole days.
    op.execute("CREATE INDEX ix_usage_events_person_day ON usage_events "
               "(coalesce(email, actor), day)")
    # Rows of unmapped identities: with ix_usage_daily_email_day, `email = X OR (email IS
    # NULL AND actor = X)` becomes two index scans instead of reading the whole range.
    op.execute("DROP INDEX ix_usage_daily_email_day")
    op.execute("CREATE INDEX ix_usage_daily_email_day ON usage_daily (email, day) INCLUDE "
               "(model, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens)")
    op.execute("CREATE INDEX ix_usage_daily_unmapped_actor_day ON usage_daily (actor, day) "
               "WHERE email IS NULL")
    op.drop_constraint("fk_usage_events_account_id_accounts", "usage_events",
                       type_="foreignkey")
    # Same effect as ON DELETE CASCADE: deleting an account deletes its events (and their
    # change_log rows, through change_log's own foreign key). TRUNCATE accounts no longer
    # reaches usage_events: name both (nothing in the app truncates).
    op.execute("""
        CREATE FUNCTION usage_events_account_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM usage_events WHERE account_id = OLD.id;
            RETURN OLD;
        END $$;
        CREATE TRIGGER accounts_delete_usage_events AFTER DELETE ON accounts
            FOR EACH ROW EXECUTE FUNCTION usage_events_account_deleted();
    """)


def _backfill_included():
    """Fill included_usd of stored rollups from the events that have any (few, usually)."""
    op.execute(f"""
        UPDATE usage_daily d SET included_usd = x.included
        FROM (SELECT day, account_id, provider, tool, actor, email, model, {INCLUDED} AS included
              FROM usage_events
              WHERE (tool = 'copilot' AND extras ? 'billed_usd')
                 OR (tool = 'cursor' AND kind ILIKE '%included%')
              GROUP BY day, account_id, provider, tool, actor, email, model) x
        WHERE x.included <> 0 AND d.day = x.day AND d.account_id = x.account_id
          AND d.provider = x.provider AND d.tool = x.tool AND d.actor = x.actor
          AND d.email IS NOT DISTINCT FROM x.email AND d.model = x.model
    """)
    op.execute("""
        UPDATE usage_day_totals t SET included_usd = x.included
        FROM (SELECT day, account_id, tool, model, sum(included_usd) AS included
              FROM usage_daily WHERE included_usd <> 0
              GROUP BY day, account_id, tool, model) x
        WHERE t.day = x.day AND t.account_id = x.account_id AND t.tool = x.tool
          AND t.model = x.model;
        UPDATE usage_person_daily p SET included_usd = x.included
        FROM (SELECT day, account_id, tool, coalesce(email, actor) AS person,
                     sum(included_usd) AS included
              FROM usage_daily WHERE included_usd <> 0
              GROUP BY day, account_id, tool, coalesce(email, actor)) x
        WHERE p.day = x.day AND p.account_id = x.account_id AND p.tool = x.tool
          AND p.person = x.person;
        UPDATE usage_person_blocks b SET included_usd = x.included
        FROM (SELECT b2.level, b2.start, b2.account_id, b2.tool, b2.person,
                     sum(p.included_usd) AS included
              FROM usage_person_blocks b2
              JOIN usage_person_daily p ON p.account_id = b2.account_id
                   AND p.tool = b2.tool AND p.person = b2.person
                   AND p.day >= b2.start AND p.day < b2.start + (1 << b2.level)
              WHERE p.included_usd <> 0
              GROUP BY b2.level, b2.start, b2.account_id, b2.tool, b2.person) x
        WHERE b.level = x.level AND b.start = x.start AND b.account_id = x.account_id
          AND b.tool = x.tool AND b.person = x.person;
    """)


def downgrade():
    for name in ("ix_usage_daily_unmapped_actor_day", "ix_usage_events_person_day",
                 "ix_usage_events_copilot_day"):
        op.execute(f"DROP INDEX {name}")
    op.execute("DROP INDEX ix_usage_daily_email_day")
    op.execute("CREATE INDEX ix_usage_daily_email_day ON usage_daily (email, day)")
    for table in ROLLUPS:
        op.drop_column(table, "included_usd")
    op.execute("""
        DROP TRIGGER accounts_delete_usage_events ON accounts;
        DROP FUNCTION usage_events_account_deleted();
    """)
    op.create_foreign_key("fk_usage_events_account_id_accounts", "usage_events", "accounts",
                          ["account_id"], ["id"], ondelete="CASCADE")
