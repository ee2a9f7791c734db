"""Each Discord interaction is answered once.

A signed interaction stays valid for the signature window (`interactions.MAX_AGE_S`),
so a captured `/ban` could be sent again and file a second case. Discord sends
each interaction once with a unique id (developers/interactions/receiving-and-responding.mdx,
Interaction Object: `id`, "ID of the interaction"), so a second arrival is a replay:
it gets the first reply, or a refusal while the first is still being answered,
and never runs again. The claim is a row keyed by the id, committed before any
work, so it holds across processes and for requests that arrive together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from modsys.adapters.discord.interactions import MAX_AGE_S
from modsys.domain import clock
from modsys.domain.models import DiscordInteraction
from modsys.infra.db import write_transaction

# A replay must carry the original's signed timestamp, which `verify` refuses
# MAX_AGE_S after it was made (and it arrived at most MAX_AGE_S before it was
# made, with clock skew): past twice that, the record can go.
KEEP = timedelta(seconds=2 * MAX_AGE_S + 60)


@dataclass(frozen=True)
class Earlier:
    """The interaction was seen before: its reply (None while it is still being answered)."""

    reply: dict[str, Any] | None


def claim(session: Session, interaction_id: str) -> Earlier | None:
    """Record `interaction_id` as being answered (committed); an `Earlier` when it already was."""
    now = clock.now()
    write_transaction(session)
    session.execute(sa.delete(DiscordInteraction).where(col(DiscordInteraction.received_at) < now - KEEP))
    session.add(DiscordInteraction(id=interaction_id, received_at=now))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        row = session.get(DiscordInteraction, interaction_id, populate_existing=True)
        return Earlier(row.reply if row is not None else None)
    return None


def answered(session: Session, interaction_id: str, reply: dict[str, Any]) -> None:
    """Keep the reply, for a replay to get the same."""
    write_transaction(session)
    session.execute(sa.update(DiscordInteraction).where(col(DiscordInteraction.id) == interaction_id)
                    .values(reply=reply))
    session.commit()
