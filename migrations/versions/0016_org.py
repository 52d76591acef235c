"""Teams with effective-dated memberships, the finance role, access tokens and the access log

Revision ID: 0016_org
Revises: 0015_budgets
Create Date: 2026-12-03 13:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_org"
down_revision = "0015_budgets"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
SOURCES = "source IN ('manual', 'csv', 'github', 'cursor')"


def upgrade():
    op.drop_constraint(op.f("ck_users_role_valid"), "users", type_="check")
    op.create_check_constraint(op.f("ck_users_role_valid"), "users",
                               "role IN ('admin', 'finance', 'member')")
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("cost_centre", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), server_default="manual", nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(SOURCES, name=op.f("ck_teams_team_source_valid")),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id",
                           name=op.f("ck_teams_team_not_own_parent")),
    )
    op.create_index("ix_teams_parent_id", "teams", ["parent_id"])
    op.create_table(
        "team_memberships",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("person", sa.String(255), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("lead", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("share", sa.Numeric(5, 4), nullable=True),
        sa.Column("source", sa.String(16), server_default="manual", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.UniqueConstraint("team_id", "person", "valid_from"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from",
                           name=op.f("ck_team_memberships_membership_dates")),
        sa.CheckConstraint("share IS NULL OR (share > 0 AND share <= 1)",
                           name=op.f("ck_team_memberships_membership_share")),
        sa.CheckConstraint(SOURCES, name=op.f("ck_team_memberships_membership_source_valid")),
    )
    op.create_index("ix_team_memberships_team_id", "team_memberships", ["team_id"])
    op.create_index("ix_team_memberships_person", "team_memberships", ["person", "valid_from"])
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('api', 'ingest')",
                           name=op.f("ck_access_tokens_token_kind_valid")),
    )
    op.create_index("uq_access_tokens_live_name", "access_tokens", ["kind", "name"],
                    unique=True, postgresql_where=sa.text("revoked_at IS NULL"))
    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("viewer", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
    )
    op.create_index("ix_access_log_at", "access_log", ["at"])


def downgrade():
    op.drop_table("access_log")
    op.drop_table("access_tokens")
    op.drop_table("team_memberships")
    op.drop_table("teams")
    op.execute("UPDATE users SET role = 'member' WHERE role = 'finance'")
    op.drop_constraint(op.f("ck_users_role_valid"), "users", type_="check")
    op.create_check_constraint(op.f("ck_users_role_valid"), "users",
                               "role IN ('admin', 'member')")
