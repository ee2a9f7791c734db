"""browser grants: server-side OAuth state and member sign-ins

Sign in with Discord's state and a member's "My cases" sign-in were only in the
signed cookie, so a copied cookie stayed valid after sign-out or after the
state was used. The server now keeps a row per grant (the token's SHA-256) and
deletes it when it is used or ended.

Revision ID: 0013
Revises: 0012
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('browsergrant',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('browsergrant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_browsergrant_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('browsergrant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_browsergrant_expires_at'))
    op.drop_table('browsergrant')
