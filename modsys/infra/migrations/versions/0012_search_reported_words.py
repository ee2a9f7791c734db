"""search reported words: full-text indexes on reported messages and report reasons

PostgreSQL only, like the search indexes of 0009 (SQLite searches with LIKE):
GIN indexes over `to_tsvector('simple', ...)` of `flag.content` and
`flagreport.reason`, the expressions modsys/reads/search.py matches with.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:40:00.000000

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen copies of the two entries this revision adds to modsys.domain.models.SEARCH_INDEXES.
_SEARCH_INDEXES = {
    "ix_flag_content_fts": "CREATE INDEX IF NOT EXISTS ix_flag_content_fts ON flag "
                           "USING gin (to_tsvector('simple'::regconfig, content))",
    "ix_flagreport_reason_fts": "CREATE INDEX IF NOT EXISTS ix_flagreport_reason_fts ON flagreport "
                                "USING gin (to_tsvector('simple'::regconfig, reason))",
}


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        for ddl in _SEARCH_INDEXES.values():
            op.execute(ddl)


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        for name in _SEARCH_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
