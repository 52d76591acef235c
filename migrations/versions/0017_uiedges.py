"""Model prices: the cache write and cache read rates may be absent (NULL: the model has no
such tier, its tokens cost the input price), instead of a made-up 0

Revision ID: 0017_uiedges
Revises: 0016_org
Create Date: 2026-12-03 14:00:00
"""
from alembic import op

revision = "0017_uiedges"
down_revision = "0016_org"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("model_prices", "cache_write_5m", nullable=True)
    op.alter_column("model_prices", "cache_read", nullable=True)


def downgrade():
    # A model without a tier charged those tokens the input price: keep that meaning.
    op.execute("UPDATE model_prices SET cache_write_5m = input WHERE cache_write_5m IS NULL")
    op.execute("UPDATE model_prices SET cache_read = input WHERE cache_read IS NULL")
    op.alter_column("model_prices", "cache_write_5m", nullable=False)
    op.alter_column("model_prices", "cache_read", nullable=False)
