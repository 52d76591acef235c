"""Performance at a year's scale: usage_events.account_id loses its foreign key (a per-row
check that cost bulk imports a tenth of their time); a trigger keeps the cascade on account
deletion, and ingest takes a key-share lock on the account instead of the check.

Revision ID: 0017_perf
Revises: 0016_org
Create Date: 2026-12-03 13:30:00
"""
from alembic import op

revision = "0017_perf"
down_revision = "0016_org"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint("fk_usage_events_account_id_accounts", "usage_events",
                       type_="foreignkey")
    # Same effect as ON DELETE CASCADE: deleting an account deletes its events (and their
    # change_log rows, through change_log's own foreign key). TRUNCATE accounts no longer
    # reaches usage_events: name both (nothing in the app truncates).
    op.execute("""
        CREATE FUNCTION usage_events_account_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM usage_events WHERE account_id = OLD.id;
            RETURN OLD;
        END $$;
        CREATE TRIGGER accounts_delete_usage_events AFTER DELETE ON accounts
            FOR EACH ROW EXECUTE FUNCTION usage_events_account_deleted();
    """)


def downgrade():
    op.execute("""
        DROP TRIGGER accounts_delete_usage_events ON accounts;
        DROP FUNCTION usage_events_account_deleted();
    """)
    op.create_foreign_key("fk_usage_events_account_id_accounts", "usage_events", "accounts",
                          ["account_id"], ["id"], ondelete="CASCADE")
