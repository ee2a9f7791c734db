"""External checkpoints of the audit chain.

The chain alone proves only that rows agree with each other: someone who can
write to the database can delete the tail, edit a row and re-hash everything
after it, or wipe the table, and then set `audithead` to match. A checkpoint
is the chain's head (sequence number and hash) at a moment, signed with
HMAC-SHA256 under MODSYS_AUDIT_KEY (which the database and the web tier never
hold) and written outside the database: appended to the checkpoint log, and
posted to each community's leadership channel. `verify` then requires every
checkpointed event to still be there with the same hash, and every later event
to be dated after the newest checkpoint. What this does and doesn't catch is in
the README ("Audit checkpoints").

One line per checkpoint:

    modsys-audit-checkpoint v1 seq=1234 hash=<64 hex> at=2026-05-01T12:00:00.000000Z mac=<64 hex>
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from modsys import audit
from modsys.domain import clock
from modsys.domain.models import AuditEvent, AuditHead
from modsys.infra.config import ConfigError, Settings, audit_key_problem

PREFIX = "modsys-audit-checkpoint v1"
_LINE = re.compile(PREFIX + r" seq=(\d{1,18}) hash=([0-9a-f]{64}) at=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) "
                   r"mac=([0-9a-f]{64})")
_AT = "%Y-%m-%dT%H:%M:%S.%fZ"


class CheckpointError(Exception):
    """A checkpoint line that is malformed or not signed with this key."""


class ChainBroken(Exception):
    """The chain fails its verification: no checkpoint is signed over it."""

    def __init__(self, result: audit.VerifyResult):
        super().__init__(f"audit chain broken at event #{result.broken_seq}: {result.reason}")
        self.result = result


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: datetime
    mac: str

    @property
    def line(self) -> str:
        return f"{PREFIX} seq={self.seq} hash={self.hash} at={self.at.strftime(_AT)} mac={self.mac}"


def _mac(key: str, seq: int, chain_hash: str, at: datetime) -> str:
    message = f"{PREFIX}|{seq}|{chain_hash}|{at.strftime(_AT)}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def sign(key: str, seq: int, chain_hash: str, at: datetime) -> Checkpoint:
    at = at.astimezone(UTC)
    return Checkpoint(seq, chain_hash, at, _mac(key, seq, chain_hash, at))


def _read(line: str) -> Checkpoint:
    m = _LINE.fullmatch(line.strip())
    if not m:
        raise CheckpointError(f"not a checkpoint line (expected '{PREFIX} seq=... hash=... at=... mac=...')")
    return Checkpoint(int(m[1]), m[2], datetime.strptime(m[3], _AT).replace(tzinfo=UTC), m[4])


def parse(line: str, key: str) -> Checkpoint:
    """The checkpoint a line records; refuses a malformed line or a wrong MAC."""
    checkpoint = _read(line)
    at = checkpoint.at
    if not hmac.compare_digest(checkpoint.mac, _mac(key, checkpoint.seq, checkpoint.hash, at)):
        raise CheckpointError(f"the checkpoint of {at.strftime(_AT)} is not signed with this MODSYS_AUDIT_KEY (forged or edited)")
    return checkpoint


def audit_key(settings: Settings) -> str:
    """MODSYS_AUDIT_KEY; production refuses a missing or weak one. Elsewhere an
    unset key is generated once beside the checkpoint log, like SECRET_KEY's."""
    if settings.is_production:
        if problem := audit_key_problem(settings):
            raise ConfigError(f"refusing audit checkpoints with MODSYS_ENV=production: {problem}")
        return settings.audit_key  # type: ignore[return-value]
    if settings.audit_key:
        return settings.audit_key
    path = settings.audit_checkpoints.parent / "audit_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def take(engine: Engine, key: str) -> Checkpoint:
    """Sign the chain's head now. The head row is locked first (PostgreSQL: row
    lock; SQLite: the write lock), so no append is in flight: every event after
    this checkpoint is dated after it, which `verify` relies on."""
    with Session(engine) as session:
        audit.lock_head(session)
        head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
        checkpoint = sign(key, head.seq, head.hash, clock.now())
        session.rollback()  # nothing was written: the lock only had to wait for writers
    return checkpoint


def append(path: Path, checkpoint: Checkpoint) -> None:
    """Add the line to the log and make it durable before anyone is told."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="ascii") as log:
        log.write(checkpoint.line + "\n")
        log.flush()
        os.fsync(log.fileno())


def last_recorded(path: Path) -> Checkpoint | None:
    """The log's newest well-formed line, its MAC unchecked: for pages (the web tier
    holds no audit key; `modsys audit verify` checks the MACs). None: no checkpoint yet."""
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None
    for line in reversed(lines):
        try:
            return _read(line)
        except CheckpointError:
            continue
    return None


def read_log(path: Path, key: str) -> list[Checkpoint]:
    """Every checkpoint in the log ([] if there is none yet); a bad line is an error naming it."""
    if not path.exists():
        return []
    checkpoints = []
    for number, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), 1):
        if line.strip():
            try:
                checkpoints.append(parse(line, key))
            except CheckpointError as e:
                raise CheckpointError(f"{path}, line {number}: {e}") from None
    return checkpoints


def verify(engine: Engine, checkpoints: Iterable[Checkpoint]) -> audit.VerifyResult:
    """The chain's own verification, then every checkpoint against it, in one snapshot."""
    checkpoints = sorted(checkpoints, key=lambda c: (c.seq, c.at))
    with audit.snapshot(engine) as session:
        result = audit.verify(session)
        if not result.ok:
            return result
        return _against(session, checkpoints, result.checked) or result


def _against(session: Session, checkpoints: list[Checkpoint], checked: int) -> audit.VerifyResult | None:
    stored: dict[int, str] = {}
    wanted = sorted({c.seq for c in checkpoints if c.seq > 0})
    for i in range(0, len(wanted), 1000):
        batch = wanted[i:i + 1000]
        stored.update(session.exec(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq.in_(batch))).all())
    for c in checkpoints:
        when = c.at.strftime("%Y-%m-%d %H:%M:%S UTC")
        if c.seq == 0:
            continue
        if c.seq not in stored:
            return audit.VerifyResult(False, checked, c.seq, f"event #{c.seq}, recorded by the checkpoint of {when}, "
                                                             "is missing: events were removed")
        if stored[c.seq] != c.hash:
            return audit.VerifyResult(False, checked, c.seq, f"event #{c.seq} differs from the checkpoint of {when}: "
                                                             "the chain was rewritten at or before it")
    if checkpoints:
        newest = max(checkpoints, key=lambda c: c.at)
        # Appends wait for the checkpoint's lock, so a later event can't be dated before it.
        backdated = session.exec(select(AuditEvent.seq).where(AuditEvent.seq > newest.seq,
                                                              AuditEvent.created_at < newest.at)
                                 .order_by(AuditEvent.seq).limit(1)).first()
        if backdated is not None:
            return audit.VerifyResult(False, checked, backdated, f"event #{backdated} comes after the checkpoint of "
                                      f"{newest.at:%Y-%m-%d %H:%M:%S} UTC but is dated before it: it was added later")
    return None


def verify_recorded(engine: Engine, settings: Settings) -> tuple[audit.VerifyResult, int]:
    """The chain against every checkpoint in the log (what `modsys audit verify`
    and the nightly job run); returns (result, checkpoints used). A log that can't
    be read or trusted, or an audit key that can't be had, fails the check: the
    rewrites only the checkpoints catch would otherwise pass unseen."""
    path = settings.audit_checkpoints
    try:
        # No log yet: nothing to check against, and no key to generate for it.
        checkpoints = read_log(path, audit_key(settings)) if path.exists() else []
    except (CheckpointError, ConfigError, OSError) as e:
        return audit.VerifyResult(False, 0, None, f"the checkpoint log can't be used ({e})"), 0
    return verify(engine, checkpoints), len(checkpoints)


def record(engine: Engine, settings: Settings) -> Checkpoint:
    """Verify the chain against the recorded checkpoints, then take a checkpoint,
    append it to the log (durably), and queue it for every community's
    leadership channel that has a webhook: a second copy out of the reach of
    whoever controls this machine. Once per head: an unchanged head adds a line
    (the time moves on) but is not posted again. A chain that fails is never
    signed (`ChainBroken`): that would vouch for the rewrite."""
    from modsys import outbox
    from modsys.adapters.discord.webhooks import webhook_url
    from modsys.domain.models import Channel, Community
    from modsys.infra.db import writing

    key = audit_key(settings)
    result, _ = verify_recorded(engine, settings)
    if not result.ok:
        raise ChainBroken(result)
    checkpoint = take(engine, key)
    append(settings.audit_checkpoints, checkpoint)
    with writing(engine) as session:
        for community_id in session.exec(select(Community.id).order_by(Community.id)).all():
            if webhook_url(session, community_id, Channel.leadership) is None:
                continue
            outbox.enqueue(session, community_id, Channel.leadership, "audit.checkpoint", {
                "title": f"Audit checkpoint at event #{checkpoint.seq}",
                "description": f"Keep this line: `modsys audit verify --checkpoint` proves the log against it.\n"
                               f"```\n{checkpoint.line}\n```"}, dedupe_key=f"audit.checkpoint:{checkpoint.seq}:{community_id}")
    return checkpoint
