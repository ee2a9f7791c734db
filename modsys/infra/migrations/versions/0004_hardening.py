"""hardening: PostgreSQL refuses TRUNCATE of the audit log, and its triggers
fire in replica mode too

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30 09:20:00

"""
from typing import Sequence, Union

from alembic import op

from modsys.infra.db import no_truncate_statements

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    for statement in no_truncate_statements(op.get_context().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_truncate ON auditevent")
        op.execute("ALTER TABLE auditevent ENABLE TRIGGER auditevent_append_only")
