"""Communities and the policy each one runs under."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from modsys.domain import clock
from modsys.domain.errors import NotFound, ValidationFailed
from modsys.domain.models import Community, PolicyVersion
from modsys.domain.policy import Policy, load_policy

DEFAULT_SLUG = "default"


def community_row(session: Session, community_id: int) -> Community | None:
    """The community's row, read once per session: the identity map holds rows weakly,
    so a row nobody keeps was read again by every later lookup (3-4 times a page)."""
    pinned = session.info.setdefault("communities", {})
    row = pinned.get(community_id)
    if row is None or row not in session:  # never cached, or the session was closed since
        row = pinned[community_id] = session.get(Community, community_id)
    return row


def policy_for(session: Session, community_id: int) -> Policy:
    community = community_row(session, community_id)
    if community is None:
        raise NotFound(f"community {community_id} does not exist")
    return load_policy(community.policy_path)


def remember_policy_version(session: Session, community_id: int, policy: Policy) -> None:
    """Keep the text of every version that was ever in force (idempotent)."""
    exists = session.exec(
        select(PolicyVersion.id).where(
            PolicyVersion.community_id == community_id, PolicyVersion.version == policy.version
        )
    ).first()
    if exists:
        return
    try:
        with session.begin_nested():
            session.add(PolicyVersion(
                community_id=community_id, version=policy.version, label=policy.label,
                content=policy.text, loaded_at=clock.now(),
            ))
    except IntegrityError:
        pass  # another process recorded the same version first


def ensure_community(session: Session, policy_path: Path | str, slug: str = DEFAULT_SLUG) -> Community:
    """Create (or point at a new policy file) the community `slug`; validates the policy."""
    policy = load_policy(policy_path)
    query = select(Community).where(Community.slug == slug)
    community = session.exec(query).first()
    if community is None:
        try:
            with session.begin_nested():  # several processes may start at once on an empty database
                community = Community(
                    slug=slug, name=policy.community.name, platform=policy.community.platform,
                    policy_path=str(policy_path), created_at=clock.now(),
                )
                session.add(community)
        except IntegrityError:
            community = session.exec(query).one()
    elif community.policy_path != str(policy_path):
        community.policy_path = str(policy_path)
        session.add(community)
    remember_policy_version(session, community.id, policy)
    session.commit()
    return community


def all_communities(session: Session) -> list[Community]:
    return list(session.exec(select(Community).order_by(Community.slug)))


def by_slug(session: Session, slug: str) -> Community:
    community = session.exec(select(Community).where(Community.slug == slug)).first()
    if community is None:
        raise NotFound(f"no community {slug!r}")  # public pages use this too: list no others
    return community


def choose_community(session: Session, slug: str | None, default_policy: Path | str) -> Community:
    """The community an operator's command acts on: `slug` if given, else the only
    one. With none at all, the default community is created from `default_policy`;
    with several, the operator must choose (the error names the choices)."""
    if slug:
        return by_slug(session, slug)
    communities = all_communities(session)
    if not communities:
        return ensure_community(session, default_policy)
    if len(communities) > 1:
        raise ValidationFailed(
            f"this database holds {len(communities)} communities; choose one with --community SLUG "
            f"({', '.join(c.slug for c in communities)})", field="community")
    return communities[0]


def default_community(session: Session, slug: str | None = None) -> Community:
    """For pages that serve the public: `slug`'s community, else the default one
    (or the only one)."""
    if slug:
        return by_slug(session, slug)
    communities = all_communities(session)
    chosen = next((c for c in communities if c.slug == DEFAULT_SLUG), communities[0] if len(communities) == 1 else None)
    if chosen is None:
        raise NotFound("no community yet: run `modsys init` first" if not communities
                       else "name the community: ?community=SLUG")
    return chosen
