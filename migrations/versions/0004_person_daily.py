"""usage_person_daily: per-person daily rollup without the model dimension

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'usage_person_daily',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('tool', sa.String(length=64), nullable=False),
        sa.Column('person', sa.Text(), nullable=False),
        sa.Column('mapped', sa.Boolean(), nullable=False),
        sa.Column('events', sa.BigInteger(), nullable=False),
        sa.Column('input_tokens', sa.BigInteger(), nullable=False),
        sa.Column('output_tokens', sa.BigInteger(), nullable=False),
        sa.Column('cache_write_tokens', sa.BigInteger(), nullable=False),
        sa.Column('cache_read_tokens', sa.BigInteger(), nullable=False),
        sa.Column('cost_usd', sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column('estimated_cost_usd', sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column('unpriced_events', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'account_id', 'tool', 'person',
                                name=op.f('pk_usage_person_daily')),
    )
    op.create_index('ix_usage_person_daily_day', 'usage_person_daily', ['day'], unique=False)
    op.execute("""
        INSERT INTO usage_person_daily
        SELECT day, account_id, tool, coalesce(email, actor), bool_or(email IS NOT NULL),
               sum(events), sum(input_tokens), sum(output_tokens), sum(cache_write_tokens),
               sum(cache_read_tokens), sum(cost_usd), sum(estimated_cost_usd),
               sum(unpriced_events)
        FROM usage_daily GROUP BY day, account_id, tool, coalesce(email, actor)
        ORDER BY day
    """)
    op.execute("ANALYZE usage_person_daily")


def downgrade():
    op.drop_index('ix_usage_person_daily_day', table_name='usage_person_daily')
    op.drop_table('usage_person_daily')
