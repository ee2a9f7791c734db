"""discord conformance: interaction ids seen (replays), disabled webhooks

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 17:20:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('discordinteraction',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reply', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('discordinteraction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discordinteraction_received_at'), ['received_at'], unique=False)
    with op.batch_alter_table('webhookendpoint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('disabled_reason', sa.String(length=300), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('webhookendpoint', schema=None) as batch_op:
        batch_op.drop_column('disabled_reason')
        batch_op.drop_column('disabled_at')
    with op.batch_alter_table('discordinteraction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_discordinteraction_received_at'))
    op.drop_table('discordinteraction')
