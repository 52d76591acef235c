"""Effective-dated prices: model_prices (updated and override rows) replaces pricing_overrides

Revision ID: 0013_prices
Revises: 0012_copilot
Create Date: 2026-12-03 10:30:00

An override used to apply to every day; it moves over in force from 1970-01-01 (the shipped
table's "far past"), so every stored estimate stays what it was.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_prices"
down_revision = "0012_copilot"
branch_labels = None
depends_on = None

RATE = sa.Numeric(precision=12, scale=6)


def upgrade():
    op.create_table(
        "model_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("input", RATE, nullable=False),
        sa.Column("output", RATE, nullable=False),
        sa.Column("cache_read", RATE, nullable=False),
        sa.Column("cache_write_5m", RATE, nullable=False),
        sa.Column("cache_write_1h", RATE, nullable=True),
        sa.Column("long_context_threshold", sa.BigInteger(), nullable=True),
        sa.Column("long_input", RATE, nullable=True),
        sa.Column("long_output", RATE, nullable=True),
        sa.Column("long_cache_read", RATE, nullable=True),
        sa.Column("long_cache_write_5m", RATE, nullable=True),
        sa.Column("long_cache_write_1h", RATE, nullable=True),
        sa.Column("fast_multiplier", sa.Numeric(precision=8, scale=4), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("source IN ('updated', 'override')",
                           name=op.f("ck_model_prices_source_valid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
        sa.UniqueConstraint("model", "valid_from", "source",
                            name=op.f("uq_model_prices_model_valid_from_source")),
    )
    op.execute("""
        INSERT INTO model_prices (model, valid_from, source, input, output, cache_read,
                                  cache_write_5m, note, created_by, created_at)
        SELECT model, DATE '1970-01-01', 'override', input_per_mtok, output_per_mtok,
               cache_read_per_mtok, cache_write_per_mtok, note, updated_by, updated_at
        FROM pricing_overrides
    """)
    op.drop_table("pricing_overrides")


def downgrade():
    op.create_table(
        "pricing_overrides",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("input_per_mtok", RATE, nullable=False),
        sa.Column("output_per_mtok", RATE, nullable=False),
        sa.Column("cache_write_per_mtok", RATE, nullable=False),
        sa.Column("cache_read_per_mtok", RATE, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_pricing_overrides")),
    )
    # Older code knows one undated override per model: keep each model's latest; updated
    # rows have no place there (the shipped table applies again).
    op.execute("""
        INSERT INTO pricing_overrides (model, input_per_mtok, output_per_mtok,
                                       cache_write_per_mtok, cache_read_per_mtok, note,
                                       updated_by, updated_at)
        SELECT DISTINCT ON (model) model, input, output, cache_write_5m, cache_read, note,
               created_by, created_at
        FROM model_prices WHERE source = 'override'
        ORDER BY model, valid_from DESC
    """)
    op.drop_table("model_prices")
