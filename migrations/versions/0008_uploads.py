"""uploads and upload_chunks: web uploads kept in PostgreSQL until their import job reads them

The web and the worker may run in separate containers without a shared disk; PostgreSQL is
the one store both reach. An upload's bytes are stored in 8 MB bytea chunks.

Revision ID: 0008_uploads
Revises: 0007_sessions
Create Date: 2026-12-03 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0008_uploads"
down_revision = "0007_sessions"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'uploads',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('filename', sa.Text(), nullable=False),
        sa.Column('size', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads')),
    )
    op.create_table(
        'upload_chunks',
        sa.Column('upload_id', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'],
                                name=op.f('fk_upload_chunks_upload_id_uploads'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('upload_id', 'seq', name=op.f('pk_upload_chunks')),
    )


def downgrade():
    op.drop_table('upload_chunks')
    op.drop_table('uploads')
