"""Discord front door: drafts between a context-menu command and its modal

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-30 09:20:00

The two columns below are also added by other issues in parallel (the
integrator keeps one copy at merge): `community.discord_guild_id` by issue 9
(0003), `staffuser.discord_user_id` by issue 11 (0005).

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'discorddraft',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('discord_user_id', sa.String(length=32), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['community.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('discorddraft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discorddraft_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_discorddraft_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('discorddraft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_discorddraft_created_at'))
        batch_op.drop_index(batch_op.f('ix_discorddraft_community_id'))
    op.drop_table('discorddraft')
