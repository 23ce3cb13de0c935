"""visits: drop sync_seq, unused since the phones' feeds moved to the sync tables

Revision ID: c7a9f1e3b5d8
Revises: b4d2e7a1c9f3
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c7a9f1e3b5d8'
down_revision: str | None = 'b4d2e7a1c9f3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column('visits', 'sync_seq')


def downgrade() -> None:
    op.add_column(
        'visits',
        sa.Column('sync_seq', sa.BigInteger(), nullable=False, server_default='0'),
    )
    op.alter_column('visits', 'sync_seq', server_default=None)
