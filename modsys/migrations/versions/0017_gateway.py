"""gateway: the message log

Messages in the channels a policy's `message_log` names, sealed (AES-GCM), with
their edits and deletions, kept until they expire unless they became evidence.

Revision ID: 0017
Revises: 0009
Create Date: 2026-12-03 18:05:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('loggedmessage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('platform_message_id', sa.String(length=32), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=False),
    sa.Column('author_id', sa.String(length=32), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kept_as_evidence', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('community_id', 'platform_message_id')
    )
    with op.batch_alter_table('loggedmessage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loggedmessage_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_loggedmessage_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_loggedmessage_author', ['community_id', 'author_id', 'changed_at'], unique=False)
        batch_op.create_index('ix_loggedmessage_channel', ['community_id', 'channel_id', 'platform_message_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('loggedmessage', schema=None) as batch_op:
        batch_op.drop_index('ix_loggedmessage_channel')
        batch_op.drop_index('ix_loggedmessage_author')
        batch_op.drop_index(batch_op.f('ix_loggedmessage_expires_at'))
        batch_op.drop_index(batch_op.f('ix_loggedmessage_community_id'))
    op.drop_table('loggedmessage')
