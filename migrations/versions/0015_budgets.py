"""Budgets, their sent notifications, and anomaly incidents

Revision ID: 0015_budgets
Revises: 0014_seats
Create Date: 2026-12-03 11:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015_budgets"
down_revision = "0014_seats"
branch_labels = None
depends_on = None

USD = sa.Numeric(precision=14, scale=2)
NOW = sa.text("now()")


def upgrade():
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("scope", JSONB(), server_default="{}", nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("amount_usd", USD, nullable=False),
        sa.Column("counts", sa.String(16), server_default="usage", nullable=False),
        sa.Column("thresholds", JSONB(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("notify_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("period IN ('month', 'quarter')", name="ck_budgets_period"),
        sa.CheckConstraint("counts IN ('usage', 'seats', 'total')", name="ck_budgets_counts"),
        sa.CheckConstraint("amount_usd > 0", name="ck_budgets_amount"),
    )
    op.create_table(
        "budget_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("budget_id", sa.Integer(),
                  sa.ForeignKey("budgets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("spent_usd", USD, nullable=False),
        sa.Column("forecast_usd", USD, nullable=False),
        sa.Column("delivered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.UniqueConstraint("budget_id", "period_start", "kind", "threshold"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("spend_usd", USD, nullable=False),
        sa.Column("baseline_usd", USD, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(255), nullable=True),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')",
                           name="ck_incidents_status"),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])


def downgrade():
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("budget_notifications")
    op.drop_table("budgets")
