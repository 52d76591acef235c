"""usage_team_days: each team's usage per (day, account, tool, model), its subtree's members on
their member days, with a bitmap of who (over people.id), so team-scoped pages read a few
thousand rows a year instead of every member's usage_daily rows. Built here for the data
already stored; `ingest` keeps it from then on.

Revision ID: 0023_teamdays
Revises: 0022_overlap
Create Date: 2026-12-04 17:30:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BIT

revision = "0023_teamdays"
down_revision = "0022_overlap"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 6)


def upgrade():
    op.create_table(
        "usage_team_days",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", MONEY, nullable=False),
        sa.Column("estimated_cost_usd", MONEY, nullable=False),
        sa.Column("unpriced_events", sa.BigInteger(), nullable=False),
        sa.Column("not_charged_events", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("included_usd", MONEY, server_default="0", nullable=False),
        sa.Column("people", BIT(varying=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE",
                                name=op.f("fk_usage_team_days_team_id_teams")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_usage_team_days_account_id_accounts")),
        sa.PrimaryKeyConstraint("team_id", "day", "account_id", "tool", "model",
                                name=op.f("pk_usage_team_days")),
    )
    # The rows of the data stored so far (the same statement as ingest's, frozen here).
    op.execute("SET LOCAL work_mem = '256MB'")
    op.execute("""
        WITH RECURSIVE subtree(team_id, id) AS (
            SELECT id, id FROM teams
            UNION ALL
            SELECT s.team_id, t.id FROM teams t JOIN subtree s ON t.parent_id = s.id),
        spans AS (
            SELECT s.team_id, lower(m.person) AS person, m.valid_from AS first,
                   coalesce(m.valid_to, 'infinity'::date) AS last
            FROM subtree s JOIN team_memberships m ON m.team_id = s.id)
        INSERT INTO usage_team_days
        SELECT tp.team_id, d.day, d.account_id, d.tool, d.model, sum(d.events),
               sum(d.input_tokens), sum(d.output_tokens), sum(d.cache_write_tokens),
               sum(d.cache_read_tokens), sum(d.cost_usd), sum(d.estimated_cost_usd),
               sum(d.unpriced_events), sum(d.not_charged_events), sum(d.included_usd),
               bit_or(set_bit((SELECT repeat('0', max(id) + 1)::varbit FROM people), tp.pid, 1))
        -- Members with their people.id first (a few thousand rows), then their usage rows:
        -- looked up per usage row, the id cost more than the rest of the statement.
        FROM (SELECT DISTINCT s.team_id, s.person, p.id AS pid
              FROM spans s JOIN people p ON p.person = s.person) tp
        JOIN usage_daily d ON d.email = tp.person
        WHERE d.account_id IN (SELECT id FROM accounts)  -- rows outlive no account
          AND EXISTS (SELECT 1 FROM spans s WHERE s.team_id = tp.team_id
                      AND s.person = tp.person AND d.day BETWEEN s.first AND s.last)
        GROUP BY tp.team_id, d.day, d.account_id, d.tool, d.model
        ORDER BY 1, 2
    """)


def downgrade():
    op.drop_table("usage_team_days")
