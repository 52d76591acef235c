"""Team scope at a year's scale: ix_usage_daily_email_day covers every column the team-scoped
pages sum (account, tool, model and the figures), so a team's per-day rows are read from the
index for its members only (an index-only scan per member span), not from a heap page per row.

Revision ID: 0021_teamindex
Revises: 0020_perf
Create Date: 2026-12-03 17:00:00
"""
from alembic import op

revision = "0021_teamindex"
down_revision = "0020_perf"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DROP INDEX ix_usage_daily_email_day")
    op.execute("CREATE INDEX ix_usage_daily_email_day ON usage_daily (email, day) INCLUDE "
               "(account_id, tool, model, events, input_tokens, output_tokens, "
               "cache_write_tokens, cache_read_tokens, cost_usd, estimated_cost_usd, "
               "unpriced_events, not_charged_events)")


def downgrade():
    op.execute("DROP INDEX ix_usage_daily_email_day")
    op.execute("CREATE INDEX ix_usage_daily_email_day ON usage_daily (email, day) INCLUDE "
               "(model, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens)")
