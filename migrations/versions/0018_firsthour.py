"""Bots and service accounts: people (as the rollups name them) never counted as people

Revision ID: 0018_firsthour
Revises: 0017_uiedges
Create Date: 2026-12-03 13:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_firsthour"
down_revision = "0017_uiedges"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bots",
        sa.Column("person", sa.Text(), primary_key=True),
        sa.Column("marked_by", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
    )


def downgrade():
    op.drop_table("bots")
