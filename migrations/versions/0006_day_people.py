"""people ids, usage_day_people (active people as bitmaps), usage_person_blocks (2-256 days)

people numbers each person (coalesce(email, actor)); usage_day_people keeps a bitmap of person
ids per (day, account, tool, model) so distinct-people counts OR a few rows; usage_person_blocks
sums usage_person_daily over aligned blocks of 2, 4, … 256 days so per-person range sums
read a handful of blocks instead of every day.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 06:00:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'people',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_people')),
        sa.UniqueConstraint('person', name=op.f('uq_people_person')),
    )
    op.create_table(
        'usage_day_people',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('tool', sa.String(length=64), nullable=False),
        sa.Column('model', sa.Text(), nullable=False),
        sa.Column('people', postgresql.BIT(varying=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_usage_day_people_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('day', 'account_id', 'tool', 'model',
                                name=op.f('pk_usage_day_people')),
    )
    # Existing usage: number every person, then one bitmap per (day, account, tool, model).
    op.execute("""
        INSERT INTO people (person)
        SELECT DISTINCT coalesce(email, actor) FROM usage_daily ORDER BY 1
    """)
    op.execute("""
        INSERT INTO usage_day_people (day, account_id, tool, model, people)
        SELECT d.day, d.account_id, d.tool, d.model, bit_or(set_bit(z.zeros, p.id, 1))
        FROM usage_daily d
        JOIN people p ON p.person = coalesce(d.email, d.actor)
        CROSS JOIN (SELECT repeat('0', coalesce(max(id), 0) + 1)::varbit AS zeros
                    FROM people) z
        WHERE d.account_id IN (SELECT id FROM accounts)
        GROUP BY d.day, d.account_id, d.tool, d.model
        ORDER BY d.day
    """)
    op.create_table(
        'usage_person_blocks',
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('tool', sa.String(length=64), nullable=False),
        sa.Column('person', sa.Text(), nullable=False),
        sa.Column('mapped', sa.Boolean(), nullable=False),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=False),
        sa.Column('days', postgresql.BIT(varying=True), nullable=False),
        *_sums(),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_usage_person_blocks_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('level', 'start', 'account_id', 'tool', 'person',
                                name=op.f('pk_usage_person_blocks')),
    )
    # Level 1 from the per-day rollup, each further level from the one below (the same
    # statements as ingest.refresh_daily, for every block at once).
    for level in range(1, 9):
        size = 1 << level
        start = f"date '1970-01-01' + ((c.start - date '1970-01-01') / {size}) * {size}"
        if level == 1:
            source = """(SELECT day AS start, account_id, tool, person, mapped, events,
                                input_tokens, output_tokens, cache_write_tokens,
                                cache_read_tokens, cost_usd, estimated_cost_usd,
                                unpriced_events, day AS first_day, day AS last_day,
                                B'1'::varbit AS days
                         FROM usage_person_daily
                         WHERE account_id IN (SELECT id FROM accounts)) c"""
        else:
            source = f"usage_person_blocks c WHERE c.level = {level - 1}"
        op.execute(f"""
            INSERT INTO usage_person_blocks (level, start, account_id, tool, person, mapped,
                first_day, last_day, days, {_SUMS})
            SELECT {level}, {start}, c.account_id, c.tool, c.person, bool_or(c.mapped),
                   min(c.first_day), max(c.last_day),
                   bit_or((c.days || repeat('0', {size} - length(c.days))::varbit)
                          >> (c.start - ({start}))),
                   {', '.join(f'sum(c.{s})' for s in _SUMS.split(', '))}
            FROM {source}
            GROUP BY {start}, c.account_id, c.tool, c.person
            ORDER BY {start}
        """)
    op.execute("ANALYZE people")
    op.execute("ANALYZE usage_day_people")
    op.execute("ANALYZE usage_person_blocks")


_SUMS = ("events, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, "
         "cost_usd, estimated_cost_usd, unpriced_events")


def _sums():
    money = sa.Numeric(precision=18, scale=6)
    return [sa.Column(name, money if name.endswith("cost_usd") else sa.BigInteger(),
                      nullable=False) for name in _SUMS.split(", ")]


def downgrade():
    op.drop_table('usage_person_blocks')
    op.drop_table('usage_day_people')
    op.drop_table('people')
