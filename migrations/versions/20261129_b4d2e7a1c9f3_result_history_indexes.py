"""visit results: indexes for the checks that look at a courier's other results

The travel-speed check reads the courier's result just before and just after a time, and
the home-base check the courier's results within metres of a point. Without these indexes
both read every result of the courier, so each submission cost more than the one before.

Revision ID: b4d2e7a1c9f3
Revises: e51f0b8d2a96
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b4d2e7a1c9f3'
down_revision: str | None = 'e51f0b8d2a96'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_visit_results_courier_captured', 'visit_results',
        ['courier_id', 'captured_at', 'id'], unique=False,
    )
    op.create_index(
        'ix_visit_results_position_geography', 'visit_results',
        [sa.text('(position::geography)')], unique=False, postgresql_using='gist',
    )


def downgrade() -> None:
    op.drop_index('ix_visit_results_position_geography', table_name='visit_results')
    op.drop_index('ix_visit_results_courier_captured', table_name='visit_results')
