"""Misuse of reporting (DSA Art. 23): warning, then suspension, refused in the service
whatever the way in; and reporter accuracy in the queue order."""

from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.domain.models import AuditEvent, Flag, FlagReport, ReporterStanding
from modsys.reads.queries import flag_queue
from modsys.services.actions import NewAction
from modsys.services.flags import (
    FlagReportInput,
    act_on_flag,
    dismiss_flag,
    report_flag,
)
from modsys.services.reporting import ReportingSuspended, misuse_numbers, warning_for
from tests.factories import reporter as chatbot

counter = iter(range(10**6))


def report(session, community, reporter: str, author: str = "100000000000007001"):
    return report_flag(session, chatbot(session, community.id), community.id, FlagReportInput(
        message_id=str(next(counter) + 10**9), channel_id="42", author_id=author, author_name="Someone",
        content="hello there", reporter=reporter))[0]


def dismissed(session, community, mod, reporter: str, n: int) -> None:
    for _ in range(n):
        dismiss_flag(session, mod, report(session, community, reporter).id)


def actioned(session, community, mod, reporter: str, n: int) -> None:
    for i in range(n):
        f = report(session, community, reporter, author=str(100000000000007100 + i))
        act_on_flag(session, mod, f.id, NewAction(member_id=f.author_id, kind="warning", rules=["spam"],
                                                  public_reason="Please stop posting the same link."))


def test_warned_at_5_dismissed_then_suspended_at_10_then_free_again(session, community, mod_a, clock):
    dismissed(session, community, mod_a, "bad", 4)
    assert warning_for(session, community.id, "api1:bad") is None
    dismissed(session, community, mod_a, "bad", 1)
    warning = warning_for(session, community.id, "api1:bad")
    assert warning.startswith("Warning: 5 of your 5 reports in the last 90 days were dismissed")
    assert "suspended for 2 weeks" in warning
    dismissed(session, community, mod_a, "bad", 5)  # 10: suspended
    row = session.exec(select(ReporterStanding)).one()
    assert row.suspended_until == clock.now() + timedelta(days=14) and row.suspensions == 1
    assert [e.verb for e in session.exec(select(AuditEvent).where(AuditEvent.verb.like("reporter.%")))] == [
        "reporter.warned", "reporter.suspended"]

    flags, reports = len(session.exec(select(Flag)).all()), len(session.exec(select(FlagReport)).all())
    with pytest.raises(ReportingSuspended, match=r"suspended for you until .* 10 of your 10 reports .* Art\. 23"):
        report(session, community, "bad")
    assert (len(session.exec(select(Flag)).all()), len(session.exec(select(FlagReport)).all())) == (flags, reports)
    report(session, community, "someone-else")  # others report as before
    numbers = misuse_numbers(session, community.id)
    assert (numbers.warned, numbers.suspended_now, numbers.suspensions_total) == (1, 1, 1)
    assert [r.reporter_key for r in numbers.suspended] == ["api1:bad"]

    clock.advance(days=14, seconds=1)
    report(session, community, "bad")  # the suspension is over
    assert misuse_numbers(session, community.id).suspended_now == 0


def test_a_mostly_accurate_reporter_is_never_warned(session, community, mod_a):
    actioned(session, community, mod_a, "busy", 12)
    dismissed(session, community, mod_a, "busy", 6)  # 6 of 18 dismissed: a third, under the policy's 70 %
    assert warning_for(session, community.id, "api1:busy") is None
    assert session.exec(select(ReporterStanding)).all() == []


def test_only_reports_in_the_lookback_count(session, community, mod_a, clock):
    dismissed(session, community, mod_a, "old", 4)
    clock.advance(days=91)
    dismissed(session, community, mod_a, "old", 4)
    assert warning_for(session, community.id, "api1:old") is None


def test_accurate_reporters_outrank_inaccurate_ones_in_the_queue(session, community, mod_a):
    actioned(session, community, mod_a, "good1", 3)
    actioned(session, community, mod_a, "good2", 3)
    dismissed(session, community, mod_a, "bad1", 3)
    dismissed(session, community, mod_a, "bad2", 3)
    dismissed(session, community, mod_a, "bad3", 3)
    by_good, _ = report_flag(session, chatbot(session, community.id), community.id, FlagReportInput("m-good", "42", "100000000000007201", "A", "text", "good1"))
    report_flag(session, chatbot(session, community.id), community.id, FlagReportInput("m-good", "42", "100000000000007201", "A", "text", "good2"))
    by_bad, _ = report_flag(session, chatbot(session, community.id), community.id, FlagReportInput("m-bad", "42", "100000000000007202", "B", "text", "bad1"))
    for r in ("bad2", "bad3"):
        report_flag(session, chatbot(session, community.id), community.id, FlagReportInput("m-bad", "42", "100000000000007202", "B", "text", r))
    session.refresh(by_good), session.refresh(by_bad)
    assert by_good.reporter_weight == pytest.approx(2 * 4 / 5)  # (3 + 1) / (3 + 2) each
    assert by_bad.reporter_weight == pytest.approx(3 * 1 / 5)  # (0 + 1) / (3 + 2) each
    assert by_bad.reporter_count > by_good.reporter_count
    queue = [f.platform_message_id for f in flag_queue(session, community.id)]
    assert queue.index("m-good") < queue.index("m-bad")
    newcomer = report(session, community, "new")
    assert session.get(Flag, newcomer.id).reporter_weight == 0.5
