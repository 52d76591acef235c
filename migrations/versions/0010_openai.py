"""billed_costs: a provider's own bill per UTC day, project and line item (OpenAI costs)

Revision ID: 0010_openai
Revises: 0009_interrupted
Create Date: 2026-12-03 12:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0010_openai"
down_revision = "0009_interrupted"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'billed_costs',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('project_id', sa.Text(), server_default='', nullable=False),
        sa.Column('line_item', sa.Text(), server_default='', nullable=False),
        sa.Column('api_key_id', sa.Text(), server_default='', nullable=False),
        sa.Column('amount_usd', sa.Numeric(), nullable=False),
        sa.Column('quantity', sa.Numeric(), nullable=True),
        sa.Column('quantity_unit', sa.Text(), server_default='', nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_billed_costs_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_billed_costs')),
        sa.UniqueConstraint('account_id', 'day', 'project_id', 'line_item', 'api_key_id',
                            name='uq_billed_costs_line'),
    )


def downgrade():
    op.drop_table('billed_costs')
