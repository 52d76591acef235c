"""sync_runs.status may be 'interrupted': a run stopped by an outage or a dead worker

Revision ID: 0009_interrupted
Revises: 0008_uploads
Create Date: 2026-12-03 10:00:00

"""
from alembic import op

revision = "0009_interrupted"
down_revision = "0008_uploads"
branch_labels = None
depends_on = None

NEW = "status IN ('running', 'success', 'partial', 'failed', 'interrupted')"
OLD = "status IN ('running', 'success', 'partial', 'failed')"


def upgrade():
    op.drop_constraint(op.f("ck_sync_runs_status_valid"), "sync_runs", type_="check")
    op.create_check_constraint(op.f("ck_sync_runs_status_valid"), "sync_runs", NEW)


def downgrade():
    # Older code knows no 'interrupted': those runs read as failed.
    op.execute("UPDATE sync_runs SET status = 'failed' WHERE status = 'interrupted'")
    op.drop_constraint(op.f("ck_sync_runs_status_valid"), "sync_runs", type_="check")
    op.create_check_constraint(op.f("ck_sync_runs_status_valid"), "sync_runs", OLD)
