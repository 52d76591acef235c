"""GitHub Copilot: seats (the latest list per account), seat_history (every day's list) and
team_members (the user-teams report per day)

Revision ID: 0012_copilot
Revises: 0011_cursor_cost
Create Date: 2026-12-03 11:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0012_copilot"
down_revision = "0011_cursor_cost"
branch_labels = None
depends_on = None


def _seat_columns() -> list[sa.Column]:
    return [
        sa.Column('user_id', sa.BigInteger(), nullable=True),
        sa.Column('plan', sa.String(length=32), nullable=True),
        sa.Column('seat_created_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_activity_editor', sa.Text(), nullable=True),
        sa.Column('last_authenticated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('pending_cancellation_date', sa.Date(), nullable=True),
        sa.Column('assigning_team', sa.Text(), nullable=True),
    ]


def upgrade():
    op.create_table(
        'seats',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('login', sa.String(length=255), nullable=False),
        *_seat_columns(),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_seats_account_id_accounts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('account_id', 'login', name=op.f('pk_seats')),
    )
    op.create_table(
        'seat_history',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('login', sa.String(length=255), nullable=False),
        *_seat_columns(),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_seat_history_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('day', 'account_id', 'login', name=op.f('pk_seat_history')),
    )
    op.create_table(
        'team_members',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('team_id', sa.String(length=64), nullable=False),
        sa.Column('login', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=True),
        sa.Column('slug', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_team_members_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('account_id', 'day', 'team_id', 'login',
                                name=op.f('pk_team_members')),
    )
    op.create_index('ix_team_members_login_day', 'team_members', ['login', 'day'])


def downgrade():
    op.drop_index('ix_team_members_login_day', table_name='team_members')
    op.drop_table('team_members')
    op.drop_table('seat_history')
    op.drop_table('seats')
