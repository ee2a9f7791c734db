"""toxicity backends: which backend produced a score, and shadow scores

Revision ID: 0008
Revises: 0002

A score records the backend (torch fp32 or onnx-int8) next to the sha256 of
the file it ran; shadow scores come from a candidate model or backend that is
compared with the live one before switching and never orders the queue.
Existing rows were all produced by torch and are live.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('toxicityscore', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backend', sa.String(length=16), server_default='torch', nullable=False))
        batch_op.add_column(sa.Column('shadow', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('toxicityscore', schema=None) as batch_op:
        batch_op.drop_column('shadow')
        batch_op.drop_column('backend')
