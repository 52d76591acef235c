"""Seats: admin-entered seat assignments, seat plan price overrides, leaves

Revision ID: 0014_seats
Revises: 0013_prices
Create Date: 2026-12-03 11:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_seats"
down_revision = "0013_prices"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=14, scale=6)


def upgrade():
    op.create_table(
        "seat_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("monthly_usd", MONEY, nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="csv", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.CheckConstraint("source IN ('csv', 'manual')", name="source_valid"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="range_valid"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("holder", "tool", "valid_from", name="uq_seat_assignments_start"),
    )
    op.create_index("ix_seat_assignments_holder", "seat_assignments", ["holder"])
    op.create_table(
        "seat_plan_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("monthly_usd", MONEY, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tool", "plan", "account_id", "valid_from",
                            name="uq_seat_plan_prices_start", postgresql_nulls_not_distinct=True),
    )
    op.create_table(
        "seat_leaves",
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("leave_from", sa.Date(), nullable=False),
        sa.Column("leave_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("holder", "leave_from"),
    )


def downgrade():
    op.drop_table("seat_leaves")
    op.drop_table("seat_plan_prices")
    op.drop_index("ix_seat_assignments_holder", table_name="seat_assignments")
    op.drop_table("seat_assignments")
