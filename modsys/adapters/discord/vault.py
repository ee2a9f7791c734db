"""The evidence vault: Discord attachments that become evidence are downloaded
at once, while their signed link works (Discord's CDN links expire, reference.mdx
"Signed Attachment CDN URLs"), and kept on the case as files: hashed (SHA-256),
thumbnailed by the workspace, images blurred until a reviewer clicks them.

Only Discord's CDN is fetched from: the URL's origin must be one of
MODSYS_DISCORD_CDN_URL's. A host name that resolves to a private, loopback,
link-local or reserved address is refused; redirects are never followed (the CDN
serves files directly); the size is bounded by the policy's
`evidence.max_file_bytes` while reading, and the type is sniffed from the bytes
against `evidence.allowed_mime_types`. Every refusal is kept with its reason.

`queue` writes the request in the caller's transaction; the `fetch_evidence_files`
job downloads, outside any web request.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from modsys import audit
from modsys.adapters.discord.client import client_for
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.actors import SCHEDULER
from modsys.domain.errors import ValidationFailed
from modsys.domain.models import VaultFile, VaultStatus, Visibility
from modsys.domain.policy import Evidence as EvidenceLimits
from modsys.infra.config import Settings
from modsys.infra.db import writing
from modsys.services.evidence import EvidenceInput, build_evidence, sniff_mime

log = logging.getLogger(__name__)
TIMEOUT = 10.0
MAX_ATTEMPTS = 5  # transient failures (5xx, timeouts) retried with backoff, then refused
BATCH = 20
IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")
# Discord's attachment paths (reference.mdx "Image Formatting": /attachments/, /ephemeral-attachments/)
ATTACHMENT_PATHS = ("/attachments/", "/ephemeral-attachments/")
# A message's jump link (reference.mdx "Message Formatting"): its attachments are kept too.
MESSAGE_LINK = re.compile(r"^https://(?:(?:canary|ptb)\.)?discord(?:app)?\.com/channels/\d+/(\d+)/(\d+)$")


class Refused(Exception):
    """Never downloaded, for a reason a person can read."""


class Transient(Exception):
    """Worth another try later (the CDN or the network failed)."""


@dataclass(frozen=True)
class Download:
    data: bytes
    mime: str
    filename: str


def looks_like_attachment(url: str) -> bool:
    """A link whose path is a Discord attachment's (the fetch still checks the host)."""
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and parts.path.startswith(ATTACHMENT_PATHS)


def wanted(url: str) -> bool:
    """An attachment link, or a link to a Discord message (whose attachments are then fetched)."""
    return looks_like_attachment(url) or MESSAGE_LINK.match(url.strip()) is not None


def queue(session: Session, community_id: int, url: str, filename: str = "", *, action_id: int | None = None,
          flag_id: int | None = None, visibility: str = Visibility.private) -> VaultFile:
    """Ask for the file behind `url` to be kept on the case (or flag), in the caller's transaction."""
    now = clock.now()
    row = VaultFile(community_id=community_id, action_id=action_id, flag_id=flag_id, url=url.strip(),
                    filename=filename[:255], visibility=visibility, next_attempt_at=now, created_at=now)
    session.add(row)
    session.flush()
    return row


def _check_origin(url: str, origins: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"not a web address: {url[:100]!r}")
    origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()
    if origin not in {o.lower() for o in origins} or parts.username or parts.password:
        raise Refused(f"{parts.hostname} is not Discord's CDN ({', '.join(origins)}); only files there are downloaded")
    try:
        ipaddress.ip_address(parts.hostname)
        return  # an address the operator named in MODSYS_DISCORD_CDN_URL itself
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as e:
        raise Transient(f"{parts.hostname} did not resolve: {e}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise Refused(f"{parts.hostname} resolves to the private address {address}; refused")


def fetch(url: str, origins: tuple[str, ...], limits: EvidenceLimits, filename: str = "") -> Download:
    """The file at `url`, within the limits, or Refused / Transient."""
    _check_origin(url, origins)
    try:
        response = requests.get(url, stream=True, allow_redirects=False, timeout=TIMEOUT,
                                headers={"User-Agent": "modsys evidence vault"})
    except requests.RequestException as e:
        raise Transient(f"the CDN could not be reached: {type(e).__name__}") from None
    with response:
        if 300 <= response.status_code < 400:
            raise Refused(f"the CDN answered with a redirect (to {response.headers.get('Location', '?')[:120]}); "
                          "redirects are refused")
        if response.status_code in (401, 403, 404, 410):
            raise Refused(f"the link no longer works (HTTP {response.status_code}): Discord's signed links expire")
        if response.status_code != 200:
            raise Transient(f"the CDN answered HTTP {response.status_code}")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limits.max_file_bytes:
            raise Refused(f"the file is {int(declared)} bytes; the limit is {limits.max_file_bytes} bytes")
        data = bytearray()
        try:
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > limits.max_file_bytes:
                    raise Refused(f"the file is over the limit of {limits.max_file_bytes} bytes")
        except requests.RequestException as e:
            raise Transient(f"the download was cut: {type(e).__name__}") from None
    mime = sniff_mime(bytes(data))
    if not data:
        raise Refused("the file is empty")
    if mime is None or mime not in limits.allowed_mime_types:
        raise Refused(f"file type not allowed (allowed: {', '.join(limits.allowed_mime_types)})")
    name = filename or urlsplit(url).path.rsplit("/", 1)[-1]
    return Download(bytes(data), mime, name)


def fetch_due(engine: Engine, settings: Settings, *, batch: int = BATCH) -> dict[str, int]:
    """The job: download what is due, keep each file as evidence, or the reason it was refused."""
    counts = {"stored": 0, "refused": 0, "retry": 0}
    with Session(engine) as session:
        due = list(session.exec(select(VaultFile).where(VaultFile.status == VaultStatus.pending,
                                                        VaultFile.next_attempt_at <= clock.now())
                                .order_by(col(VaultFile.id)).limit(batch)))
    for row in due:
        if (link := MESSAGE_LINK.match(row.url)) is not None:
            counts[_resolve_message(engine, settings, row, link.group(1), link.group(2))] += 1
            continue
        with Session(engine) as session:
            limits = policy_for(session, row.community_id).evidence
        try:
            got = fetch(row.url, settings.discord_cdn_urls, limits, row.filename)
        except Refused as e:
            counts["refused"] += _finish(engine, row.id, refused=str(e))  # type: ignore[arg-type]
        except Transient as e:
            counts["retry"] += _retry(engine, row.id, str(e))  # type: ignore[arg-type]
        else:
            counts["stored"] += _finish(engine, row.id, got=got)  # type: ignore[arg-type]
    return counts


def _resolve_message(engine: Engine, settings: Settings, row: VaultFile, channel_id: str, message_id: str) -> str:
    """A message link: its attachments are queued (message.mdx "Get Channel Message")."""
    if not settings.discord_bot_token:
        _finish(engine, row.id, refused="no bot configured to read the message")  # type: ignore[arg-type]
        return "refused"
    reply = client_for(settings).request("GET", "/channels/{channel_id}/messages/{message_id}",
                                         channel_id=channel_id, message_id=message_id)
    if reply.status in (403, 404):
        why = "the message is gone, or the bot can't read that channel" if reply.status == 404 else \
            reply.explain("View Channel, Read Message History")
        _finish(engine, row.id, refused=why)  # type: ignore[arg-type]
        return "refused"
    if not reply.ok:
        _retry(engine, row.id, reply.explain())  # type: ignore[arg-type]
        return "retry"
    attachments = [a for a in (reply.data or {}).get("attachments") or [] if isinstance(a, dict) and a.get("url")]
    with writing(engine) as session:
        current = session.get(VaultFile, row.id)
        if current is None or current.status != VaultStatus.pending:
            return "stored"
        for a in attachments:
            queue(session, row.community_id, str(a["url"]), str(a.get("filename") or ""), action_id=row.action_id,
                  flag_id=row.flag_id, visibility=row.visibility)
        current.status, current.done_at = VaultStatus.stored, clock.now()
        current.reason = f"the message's {len(attachments)} attachment(s) queued" if attachments else \
            "the message has no attachments"
        session.add(current)
    return "stored"


def _finish(engine: Engine, vault_id: int, *, got: Download | None = None, refused: str = "") -> int:
    with writing(engine) as session:
        row = session.get(VaultFile, vault_id)
        if row is None or row.status != VaultStatus.pending:
            return 0  # another run finished it
        row.done_at, row.attempts = clock.now(), row.attempts + 1
        if got is not None:
            try:
                evidence = build_evidence(EvidenceInput(kind="file", visibility=row.visibility, data=got.data,
                                                        filename=got.filename, sensitive=got.mime in IMAGES),
                                          policy_for(session, row.community_id), row.community_id)
            except ValidationFailed as e:
                refused = e.message
            else:
                evidence.action_id, evidence.flag_id = row.action_id, row.flag_id
                session.add(evidence)
                session.flush()
                row.status, row.evidence_id = VaultStatus.stored, evidence.id
                audit.record(session, SCHEDULER.within(row.community_id), "evidence.stored_from_discord", evidence,
                             {"action_id": row.action_id, "flag_id": row.flag_id, "sha256": evidence.sha256,
                              "size": evidence.size, "vault_id": row.id})
        if refused:
            _refuse(session, row, refused)
        session.add(row)
        return 1


def _refuse(session: Session, row: VaultFile, reason: str) -> None:
    row.status, row.reason = VaultStatus.refused, reason[:500]
    audit.record(session, SCHEDULER.within(row.community_id), "evidence.download_refused", row,
                 {"action_id": row.action_id, "flag_id": row.flag_id, "reason": row.reason})


def _retry(engine: Engine, vault_id: int, why: str) -> int:
    with writing(engine) as session:
        row = session.get(VaultFile, vault_id)
        if row is None or row.status != VaultStatus.pending:
            return 0
        row.attempts += 1
        if row.attempts >= MAX_ATTEMPTS:
            row.done_at = clock.now()
            _refuse(session, row, f"gave up after {row.attempts} tries: {why}")
        else:
            row.reason = why[:500]
            row.next_attempt_at = clock.now() + timedelta(seconds=5 * 4 ** row.attempts)
        session.add(row)
        return 1


def for_action(session: Session, action_id: int) -> list[VaultFile]:
    """The downloads asked for a case, with their outcome (the case page)."""
    return list(session.exec(select(VaultFile).where(VaultFile.action_id == action_id).order_by(col(VaultFile.id))))
