"""gateway: the message log, the evidence vault, raid incidents and modmail

Messages in the channels a policy's `message_log` names, sealed (AES-GCM), with
their edits and deletions, kept until they expire unless they became evidence.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 18:05:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
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

    op.create_table('vaultfile',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.Column('flag_id', sa.Integer(), nullable=True),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], ),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], ),
    sa.ForeignKeyConstraint(['flag_id'], ['flag.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('vaultfile', schema=None) as batch_op:
        batch_op.create_index('ix_vaultfile_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_vaultfile_action_id'), ['action_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vaultfile_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vaultfile_evidence_id'), ['evidence_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vaultfile_flag_id'), ['flag_id'], unique=False)

    op.create_table('raidincident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('responded_by_id', sa.Integer(), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lockdown_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lockdown_state', sa.String(length=200), nullable=False),
    sa.Column('bulk_ban_result', sa.String(length=500), nullable=False),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['responded_by_id'], ['staffuser.id'], ),
    sa.ForeignKeyConstraint(['undone_by_id'], ['staffuser.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('raidincident', schema=None) as batch_op:
        batch_op.create_index('ix_raidincident_open', ['community_id', 'status', 'last_seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_raidincident_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_raidincident_responded_by_id'), ['responded_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_raidincident_undone_by_id'), ['undone_by_id'], unique=False)

    op.create_table('raidaccount',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('platform_user_id', sa.String(length=32), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], ),
    sa.ForeignKeyConstraint(['incident_id'], ['raidincident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'platform_user_id')
    )
    with op.batch_alter_table('raidaccount', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_raidaccount_action_id'), ['action_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_raidaccount_incident_id'), ['incident_id'], unique=False)

    op.create_table('modmailthread',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('forum_thread_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('modmailthread', schema=None) as batch_op:
        batch_op.create_index('ix_modmailthread_member', ['community_id', 'member_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_modmailthread_community_id'), ['community_id'], unique=False)

    op.create_table('modmailmessage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('author_staff_id', sa.Integer(), nullable=True),
    sa.Column('appeal_action_id', sa.Integer(), nullable=True),
    sa.Column('platform_message_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appeal_action_id'], ['action.id'], ),
    sa.ForeignKeyConstraint(['author_staff_id'], ['staffuser.id'], ),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['thread_id'], ['modmailthread.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('community_id', 'platform_message_id')
    )
    with op.batch_alter_table('modmailmessage', schema=None) as batch_op:
        batch_op.create_index('ix_modmailmessage_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_modmailmessage_appeal_action_id'), ['appeal_action_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_modmailmessage_author_staff_id'), ['author_staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_modmailmessage_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_modmailmessage_thread_id'), ['thread_id'], unique=False)


def downgrade() -> None:
    op.drop_table('modmailmessage')
    op.drop_table('modmailthread')
    op.drop_table('raidaccount')
    op.drop_table('raidincident')
    with op.batch_alter_table('vaultfile', schema=None) as batch_op:
        for name in ('ix_vaultfile_flag_id', 'ix_vaultfile_evidence_id', 'ix_vaultfile_community_id',
                     'ix_vaultfile_action_id', 'ix_vaultfile_due'):
            batch_op.drop_index(name)
    op.drop_table('vaultfile')
    with op.batch_alter_table('loggedmessage', schema=None) as batch_op:
        batch_op.drop_index('ix_loggedmessage_channel')
        batch_op.drop_index('ix_loggedmessage_author')
        batch_op.drop_index(batch_op.f('ix_loggedmessage_expires_at'))
        batch_op.drop_index(batch_op.f('ix_loggedmessage_community_id'))
    op.drop_table('loggedmessage')
