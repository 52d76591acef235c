"""Telemetry intake: cumulative OTLP series state and what each ingest token delivered

Revision ID: 0019_telemetry
Revises: 0018_firsthour
Create Date: 2026-12-03 13:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_telemetry"
down_revision = "0018_firsthour"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade():
    op.create_table(
        "telemetry_series",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    )
    op.create_table(
        "telemetry_intake",
        sa.Column("token_id", sa.Integer(),
                  sa.ForeignKey("access_tokens.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("points", sa.BigInteger(), server_default="0", nullable=False),
    )


def downgrade():
    op.drop_table("telemetry_intake")
    op.drop_table("telemetry_series")
