"""sync entries: each visit's payload as the phone gets it, with the stamp of its sources

A sync page then joins stored payloads instead of rendering every visit. Entries existing
before this revision have no payload: the first page that reaches one renders and stores it.

Revision ID: e51f0b8d2a96
Revises: 7c3e9a41d5b2
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e51f0b8d2a96'
down_revision: str | None = '7c3e9a41d5b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('sync_entries', sa.Column('payload', sa.Text(), nullable=True))
    op.add_column('sync_entries', sa.Column('payload_stamp', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('sync_entries', 'payload_stamp')
    op.drop_column('sync_entries', 'payload')
