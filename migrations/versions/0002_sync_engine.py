"""sync engine: account snapshots, next attempt time, first synced day

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:10:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('accounts', sa.Column('next_attempt_at', sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column('sync_state', sa.Column('synced_from', sa.Date(), nullable=True))
    op.create_table(
        'account_snapshots',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=64), server_default='', nullable=False),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_account_snapshots_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('account_id', 'kind', 'key', name=op.f('pk_account_snapshots')),
    )


def downgrade():
    op.drop_table('account_snapshots')
    op.drop_column('sync_state', 'synced_from')
    op.drop_column('accounts', 'next_attempt_at')
