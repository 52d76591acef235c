"""Sync keeps its place inside the overlap: `sync_state.overlap_through` is the end of the last
overlap window a run stored before it stopped (a rate limit, an outage), so the next run goes
on from there instead of re-reading the overlap from its start (at org scale the overlap alone
can cost more requests than a token's hourly quota).

Revision ID: 0022_overlap
Revises: 0021_teamindex
Create Date: 2026-12-03 18:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0022_overlap"
down_revision = "0021_teamindex"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("sync_state", sa.Column("overlap_through", sa.DateTime(timezone=True)))


def downgrade():
    op.drop_column("sync_state", "overlap_through")
