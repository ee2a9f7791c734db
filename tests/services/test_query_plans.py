"""The pages' main queries use the indexes issue 23 measured (1M actions: appeals in due
order 16.5 -> 0.04 ms, member by Discord id 4.7 -> 0.03 ms, channel list 11 -> 0.26 ms,
queue order 38 -> 0.08 ms), and give the same answers as before.

On PostgreSQL the plan is read with sequential scans and sorts discouraged, so a tiny
test table shows which index the planner *can* use; without the index the plan scans
or sorts and the test fails."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from modsys.domain.models import Appeal, Flag, Member
from modsys.reads import queries
from modsys.services.flags import FlagReportInput, report_flag
from tests.factories import reporter


def plan(session, query) -> str:
    bind = session.get_bind()
    compiled = query.compile(bind, compile_kwargs={"literal_binds": True})
    if bind.dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        session.execute(sa.text("SET LOCAL enable_sort = off"))
        rows = session.execute(sa.text(f"EXPLAIN {compiled}")).all()
    else:
        rows = session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    session.rollback()
    return "\n".join(" ".join(str(c) for c in r) for r in rows)


def report(session, community, n, channel, author="100000000000007001"):
    flag, _ = report_flag(session, reporter(session, community.id), community.id, FlagReportInput(
        message_id=str(n), channel_id=str(40 + n), channel_name=channel, author_id=author, author_name="Someone",
        content="you are an idiot", reporter="5001"))
    return flag


def test_the_channel_list_is_distinct_sorted_and_of_this_community(session, community):
    from modsys.community import ensure_community
    from modsys.infra.config import DEFAULT_POLICY
    other = ensure_community(session, DEFAULT_POLICY, slug="other")
    for n, channel in enumerate(["memes", "general", "", "general", "help", "memes"]):
        report(session, community, n, channel)
    report(session, other, 99, "secret")
    assert queries.flag_channels(session, community.id) == ["general", "help", "memes"]
    assert queries.flag_channels(session, other.id) == ["secret"]


def test_the_queue_puts_unscored_flags_after_scored_ones(session, community):
    flags = [report(session, community, n, "general") for n in range(4)]
    for f, score in zip(flags, [None, 0.2, 0.0, 0.9]):
        session.execute(sa.update(Flag).where(Flag.id == f.id).values(max_score=score))
    session.commit()
    order = [f.id for f in queries.flag_queue(session, community.id)]
    assert order == [flags[3].id, flags[1].id, flags[2].id, flags[0].id]


def test_the_queue_order_reads_its_index(session, community):
    q = (select(Flag).where(Flag.community_id == community.id, Flag.status == "open")
         .order_by(Flag.priority.desc(), Flag.max_score.desc().nulls_last(), Flag.reporter_weight.desc(),
                   Flag.created_at.asc(), Flag.id.asc()).limit(50))
    got = plan(session, q)
    assert "ix_flag_queue_order" in got, got
    if session.get_bind().dialect.name == "postgresql":
        assert "Sort" not in got, got  # the index gives the order; nothing is sorted


def test_the_appeals_list_in_due_order_reads_its_index(session, community):
    q = (select(Appeal.id).where(Appeal.community_id == community.id)
         .order_by(Appeal.review_due_at.asc(), Appeal.id.asc()).limit(50))
    got = plan(session, q)
    assert "ix_appeal_community_due" in got, got


def test_a_member_looked_up_by_discord_id_reads_an_index(session, community):
    q = select(Member).where(Member.community_id == community.id, Member.platform_user_id == "123456789012345678")
    got = plan(session, q)
    assert "ix_member_community_user" in got, got


def test_the_channel_list_probes_an_index_once_per_channel(session, community):
    for n, channel in enumerate(["memes", "general", "help"]):
        report(session, community, n, channel)
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":  # SQLite's planner walks the index itself, never the table
        statement = str(_channels_sql(session, community.id).compile(bind, compile_kwargs={"literal_binds": True}))
        got = "\n".join(str(r[-1]) for r in session.execute(sa.text(f"EXPLAIN QUERY PLAN {statement}")))
        assert "ix_flag_community_channel" in got and "SCAN flag" not in got.splitlines(), got
        return
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    statement = str(_channels_sql(session, community.id).compile(bind, compile_kwargs={"literal_binds": True}))
    got = "\n".join(r[0] for r in session.execute(sa.text(f"EXPLAIN {statement}")))
    session.rollback()
    assert "Recursive Union" in got and "Index" in got and "Seq Scan on flag" not in got, got


def _channels_sql(session, community_id):
    """The statement flag_channels runs (captured, not copied)."""
    seen: list = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if context.compiled is not None:  # SQLite's driver-level statements (BEGIN) carry none
            seen.append(context.compiled.statement)

    engine = session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        queries.flag_channels(session, community_id)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    return seen[-1]


def test_the_member_page_suggests_every_rule_from_one_query(session, community, mod_a, make_member):
    from modsys.community import policy_for
    from modsys.services.actions import suggest_sanction, suggest_sanctions
    from tests.factories import timeout

    member = make_member()
    timeout(session, mod_a, member, hours=1)
    policy = policy_for(session, community.id)
    engine = session.get_bind()
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        every = suggest_sanctions(session, member.id, policy)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(sent) == 1 and len(policy.rules) > 1
    assert every == {r.id: suggest_sanction(session, member.id, r.id, policy) for r in policy.rules}
    assert every["respectful"].count == 1
