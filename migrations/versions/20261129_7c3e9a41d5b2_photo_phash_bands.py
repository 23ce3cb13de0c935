"""photos: perceptual hash as a bigint and four indexed 16-bit bands

The near-duplicate photo check compared every stored hash as text; these stored generated
columns let it compare integers and pre-select candidates through btree indexes on the bands.
Adding a stored generated column computes it for every existing row (the backfill).

Revision ID: 7c3e9a41d5b2
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7c3e9a41d5b2'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PHASH_IS_HEX = "phash::text ~ '^[0-9a-fA-F]{16}$'::text"
PHASH_BITS_SQL = (
    f"CASE WHEN {PHASH_IS_HEX} THEN ('x'::text || phash::text)::bit(64)::bigint "
    "ELSE NULL::bigint END"
)


def phash_band_sql(band: int) -> str:
    return (f"CASE WHEN {PHASH_IS_HEX} THEN "
            f"('x'::text || substr(phash::text, {4 * band + 1}, 4))::bit(16)::integer "
            "ELSE NULL::integer END")


def upgrade() -> None:
    op.add_column('photos', sa.Column(
        'phash_bits', sa.BigInteger(), sa.Computed(PHASH_BITS_SQL, persisted=True),
        nullable=True))
    for band in range(4):
        op.add_column('photos', sa.Column(
            f'phash_band{band}', sa.Integer(), sa.Computed(phash_band_sql(band), persisted=True),
            nullable=True))
        op.create_index(op.f(f'ix_photos_phash_band{band}'), 'photos', [f'phash_band{band}'],
                        unique=False)


def downgrade() -> None:
    for band in range(4):
        op.drop_index(op.f(f'ix_photos_phash_band{band}'), table_name='photos')
        op.drop_column('photos', f'phash_band{band}')
    op.drop_column('photos', 'phash_bits')
