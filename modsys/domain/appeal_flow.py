"""The appeal state machine: the one table of allowed moves.

    submitted -> in_review -> (escalated) -> decided
    any open state -> withdrawn

Every move not listed here is refused with InvalidTransition.
"""

from __future__ import annotations

from modsys.domain.errors import InvalidTransition
from modsys.domain.models import AppealStatus as S

TRANSITIONS: dict[tuple[S, str], S] = {
    (S.submitted, "start_review"): S.in_review,
    (S.submitted, "escalate"): S.escalated,
    (S.submitted, "withdraw"): S.withdrawn,
    (S.in_review, "release"): S.submitted,
    (S.in_review, "escalate"): S.escalated,
    (S.in_review, "decide"): S.decided,
    (S.in_review, "withdraw"): S.withdrawn,
    (S.escalated, "final_decision"): S.decided,
    (S.escalated, "withdraw"): S.withdrawn,
}

TERMINAL = frozenset({S.decided, S.withdrawn})


def allowed_moves(status: str) -> list[str]:
    return [verb for (state, verb) in TRANSITIONS if state == status]


def next_status(status: str, verb: str) -> S:
    try:
        return TRANSITIONS[(S(status), verb)]
    except (KeyError, ValueError):
        moves = allowed_moves(status)
        hint = f"; from {status} it can: {', '.join(moves)}" if moves else f"; {status} is final"
        raise InvalidTransition(f"an appeal that is {status} cannot {verb.replace('_', ' ')}{hint}") from None
