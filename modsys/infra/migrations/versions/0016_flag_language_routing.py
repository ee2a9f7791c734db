"""language routing: a flag's language is detected, and marked when unsure

Revision ID: 0016
Revises: 0015

The scoring worker detects each flag's language (lingua) and routes it to a
model; `low_confidence` marks a flag whose language was not detected surely
or has no model of its own (it went to the fallback). The queue filters by
language, hence the index.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('flag', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_confidence', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_flag_community_language', ['community_id', 'language'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('flag', schema=None) as batch_op:
        batch_op.drop_index('ix_flag_community_language')
        batch_op.drop_column('low_confidence')
