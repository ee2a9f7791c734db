"""discord cases: drift keeps Discord's reason, "check drift now", placeholder accounts

DiscordDrift keeps the ban's reason and the user's name from Discord's ban list
(an import keeps them as the draft of the statement of reasons); the sync cursor
records a drift check requested from /admin and the last one run; the existing
placeholder accounts that file unlinked and AutoMod cases become the `system`
role (no capability, never a login).

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03 17:30:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen copies (revisions never import modsys): the placeholder's name before this
# revision and its role from now on.
_OLD_PLACEHOLDER = 'discord-unlinked.%'
_SYSTEM_ROLE = 'system'


def upgrade() -> None:
    with op.batch_alter_table('discorddrift', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discord_reason', sa.String(length=600), server_default='', nullable=False))
        batch_op.add_column(sa.Column('user_name', sa.String(length=100), server_default='', nullable=False))
    with op.batch_alter_table('discordsynccursor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drift_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('drift_checked_at', sa.DateTime(timezone=True), nullable=True))
    staff = sa.table('staffuser', sa.column('username', sa.String), sa.column('password_hash', sa.String),
                     sa.column('role', sa.String), sa.column('active', sa.Boolean),
                     sa.column('discord_user_id', sa.String))
    op.execute(staff.update().where(staff.c.username.like(_OLD_PLACEHOLDER), staff.c.password_hash == '!')
               .values(role=_SYSTEM_ROLE, active=False, discord_user_id=None))


def downgrade() -> None:
    staff = sa.table('staffuser', sa.column('role', sa.String))
    op.execute(staff.update().where(staff.c.role == _SYSTEM_ROLE).values(role='moderator'))
    with op.batch_alter_table('discordsynccursor', schema=None) as batch_op:
        batch_op.drop_column('drift_checked_at')
        batch_op.drop_column('drift_requested_at')
    with op.batch_alter_table('discorddrift', schema=None) as batch_op:
        batch_op.drop_column('user_name')
        batch_op.drop_column('discord_reason')
