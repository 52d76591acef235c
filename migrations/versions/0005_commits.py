"""repositories, commits, commit_attributions, webhook_deliveries (GitHub commits)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:18:50

"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _timestamps():
    return [sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text('now()'),
                      nullable=False) for name in ('created_at', 'updated_at')]


def upgrade():
    op.create_table(
        'repositories',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=32), server_default='github', nullable=False),
        sa.Column('full_name', sa.String(length=255), nullable=False),
        sa.Column('external_id', sa.BigInteger(), nullable=True),
        sa.Column('default_branch', sa.String(length=255), nullable=True),
        sa.Column('html_url', sa.Text(), nullable=True),
        sa.Column('private', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('archived', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('backfill_status', sa.String(length=16), server_default='pending',
                  nullable=False),
        sa.Column('backfill_from', sa.Date(), nullable=True),
        sa.Column('synced_through', sa.DateTime(timezone=True), nullable=True),
        sa.Column('parked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("backfill_status IN ('pending', 'running', 'complete', 'failed')",
                           name=op.f('ck_repositories_backfill_status_valid')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_repositories')),
        sa.UniqueConstraint('source', 'full_name', name=op.f('uq_repositories_source_full_name')),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('delivery_id', sa.String(length=64), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('repository', sa.String(length=255), nullable=True),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('commits', sa.Integer(), server_default='0', nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.PrimaryKeyConstraint('delivery_id', name=op.f('pk_webhook_deliveries')),
    )
    op.create_index('ix_webhook_deliveries_received_at', 'webhook_deliveries', ['received_at'])
    op.create_table(
        'commits',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('repository_id', sa.Integer(), nullable=False),
        sa.Column('sha', sa.String(length=64), nullable=False),
        sa.Column('committed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('message', sa.Text(), server_default='', nullable=False),
        sa.Column('author_name', sa.String(length=255), nullable=True),
        sa.Column('author_email', sa.String(length=255), nullable=True),
        sa.Column('author_login', sa.String(length=255), nullable=True),
        sa.Column('author_github_id', sa.BigInteger(), nullable=True),
        sa.Column('committer_name', sa.String(length=255), nullable=True),
        sa.Column('committer_email', sa.String(length=255), nullable=True),
        sa.Column('person', sa.String(length=255), nullable=True),
        sa.Column('additions', sa.Integer(), nullable=True),
        sa.Column('deletions', sa.Integer(), nullable=True),
        sa.Column('ai_tool', sa.String(length=32), nullable=True),
        sa.Column('ai_model', sa.String(length=64), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('html_url', sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("source IN ('webhook', 'api')", name=op.f('ck_commits_source_valid')),
        sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'],
                                name=op.f('fk_commits_repository_id_repositories'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_commits')),
        sa.UniqueConstraint('repository_id', 'sha', name=op.f('uq_commits_repository_id_sha')),
    )
    op.create_index('ix_commits_author_login', 'commits', ['author_login'])
    op.create_index('ix_commits_committed_at', 'commits', ['committed_at'])
    op.create_index('ix_commits_person', 'commits', ['person'])
    op.create_index('ix_commits_repo_committed', 'commits', ['repository_id', 'committed_at'])
    op.create_table(
        'commit_attributions',
        sa.Column('commit_id', sa.BigInteger(), nullable=False),
        sa.Column('tool', sa.String(length=32), nullable=False),
        sa.Column('model', sa.String(length=64), nullable=True),
        sa.Column('signal', sa.String(length=16), nullable=False),
        sa.Column('evidence', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['commit_id'], ['commits.id'],
                                name=op.f('fk_commit_attributions_commit_id_commits'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('commit_id', 'tool', name=op.f('pk_commit_attributions')),
    )
    op.create_index('ix_commit_attributions_tool', 'commit_attributions', ['tool'])


def downgrade():
    op.drop_table('commit_attributions')
    op.drop_table('commits')
    op.drop_table('webhook_deliveries')
    op.drop_table('repositories')
