"""communities and kinds

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:19:13.398301

Several communities in one deployment: each may name the Discord server
(guild) it moderates, at most one community per guild. Statements of reasons
record the DSA `decision_provision` that the action-kind registry maps each
kind to.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discord_guild_id', sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint('uq_community_discord_guild_id', ['discord_guild_id'])

    with op.batch_alter_table('statementofreasons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decision_provision', sa.String(length=64), nullable=True))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('statementofreasons', schema=None) as batch_op:
        batch_op.drop_column('decision_provision')

    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.drop_constraint('uq_community_discord_guild_id', type_='unique')
        batch_op.drop_column('discord_guild_id')

