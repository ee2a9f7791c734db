"""DSA content dates, transparency rollups, and the indexes the pages wait on

- action.content_at: when the message acted on was sent ("Act on this message"),
  the DSA statement's content_date.
- transparencyrollup / transparencycursor: the public numbers per community and
  month, recounted by the scheduler from the audit events (issue 23, item 4).
- indexes measured in issue 23 at 1M actions: appeal (community_id, review_due_at,
  id) for the appeals list in due order, member (community_id, platform_user_id)
  for lookups by Discord id, the flag queue's order with max_score NULLS LAST, and
  appeal (leadership_due_at) for the rollups' passed deadlines.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:40:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# A copy of modsys.domain.models.queue_order_index_ddl as it is at this revision.
_QUEUE_ORDER = ("CREATE INDEX IF NOT EXISTS ix_flag_queue_order ON flag (community_id, status, priority DESC, "
                "max_score DESC{nulls}, reporter_weight DESC, created_at, id)")


def upgrade() -> None:
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.create_index('ix_appeal_community_due', ['community_id', 'review_due_at', 'id'], unique=False)
        batch_op.create_index('ix_appeal_leadership_due', ['leadership_due_at'], unique=False)

    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index('ix_member_community_user', ['community_id', 'platform_user_id'], unique=False)

    nulls = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(_QUEUE_ORDER.format(nulls=nulls))

    op.create_table('transparencyrollup',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('metric', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.PrimaryKeyConstraint('community_id', 'month', 'metric', 'key')
    )
    op.create_table('transparencycursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.Column('counted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('transparencycursor')
    op.drop_table('transparencyrollup')
    op.execute("DROP INDEX IF EXISTS ix_flag_queue_order")
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index('ix_member_community_user')
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_index('ix_appeal_leadership_due')
        batch_op.drop_index('ix_appeal_community_due')
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.drop_column('content_at')
