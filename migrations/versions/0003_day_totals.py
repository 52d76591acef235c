"""usage_day_totals (team-wide daily rollup) and planner statistics for page queries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'usage_day_totals',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('tool', sa.String(length=64), nullable=False),
        sa.Column('model', sa.Text(), nullable=False),
        sa.Column('events', sa.BigInteger(), nullable=False),
        sa.Column('input_tokens', sa.BigInteger(), nullable=False),
        sa.Column('output_tokens', sa.BigInteger(), nullable=False),
        sa.Column('cache_write_tokens', sa.BigInteger(), nullable=False),
        sa.Column('cache_read_tokens', sa.BigInteger(), nullable=False),
        sa.Column('cost_usd', sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column('estimated_cost_usd', sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column('unpriced_events', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'account_id', 'tool', 'model',
                                name=op.f('pk_usage_day_totals')),
    )
    op.create_index('ix_usage_day_totals_day', 'usage_day_totals', ['day'], unique=False)
    op.execute("""
        INSERT INTO usage_day_totals
        SELECT day, account_id, tool, model, sum(events), sum(input_tokens),
               sum(output_tokens), sum(cache_write_tokens), sum(cache_read_tokens),
               sum(cost_usd), sum(estimated_cost_usd), sum(unpriced_events)
        FROM usage_daily GROUP BY day, account_id, tool, model
    """)
    # Pages count and group by person = coalesce(email, actor); without statistics on that
    # expression PostgreSQL guesses far too many groups and sorts on disk instead of hashing.
    op.execute("CREATE STATISTICS IF NOT EXISTS usage_daily_person "
               "ON (coalesce(email, actor)) FROM usage_daily")
    op.execute("ANALYZE usage_daily")


def downgrade():
    op.execute("DROP STATISTICS IF EXISTS usage_daily_person")
    op.drop_index('ix_usage_day_totals_day', table_name='usage_day_totals')
    op.drop_table('usage_day_totals')
