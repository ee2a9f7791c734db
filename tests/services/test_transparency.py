"""The transparency numbers against values computed by hand, on both databases."""

from datetime import UTC, datetime

import pytest

from modsys.reads.export.transparency import (
    months_back,
    public_log,
    transparency_report,
)
from modsys.services.flags import dismiss_flag
from tests.support.transparency import at, build_history, flag


@pytest.fixture
def history(session, engine, community, mod_a, mod_b, leader, make_member, clock):
    return build_history(session, engine, community, mod_a, mod_b, leader, make_member, clock)


def values(report, metric, key=""):
    (series,) = [s for s in report.all_series() if s.metric == metric and s.key == key]
    return {m: v for m, v in series.values.items() if v not in (0, None)}


def test_numbers_match_the_hand_count(session, community, history):
    r = transparency_report(session, community.id)
    assert r.months == months_back(datetime(2026, 1, 5, tzinfo=UTC)) and r.months[0] == "2025-02" and r.months[-1] == "2026-01"
    assert values(r, "actions_by_kind", "timeout") == {"2025-11": 1}
    assert values(r, "actions_by_kind", "ban") == {"2025-11": 1}
    assert values(r, "actions_by_kind", "warning") == {"2025-12": 1}
    assert {s.key for s in r.all_series() if s.metric == "actions_by_kind"} == {"warning", "timeout", "ban"}
    assert values(r, "actions_by_rule", "respectful") == {"2025-11": 2}
    assert values(r, "actions_by_rule", "spam") == {"2025-11": 1, "2025-12": 1}
    assert values(r, "actions") == {"2025-11": 2, "2025-12": 1}
    assert values(r, "automated_detection") == {"2025-12": 1}
    share = next(s for s in r.all_series() if s.metric == "automated_detection_share").values
    assert share["2025-11"] == 0.0 and share["2025-12"] == 1.0 and share["2026-01"] is None
    assert values(r, "flags", "received") == {"2025-11": 2, "2025-12": 1}
    assert values(r, "flags", "actioned") == {"2025-11": 1, "2025-12": 1}
    assert values(r, "flags", "dismissed") == {"2025-11": 1}
    assert values(r, "appeals", "filed") == {"2025-12": 2}
    assert values(r, "appeals_decided", "overturned") == {"2025-12": 1}
    assert values(r, "appeals_decided", "upheld") == {"2026-01": 1}
    rate = next(s for s in r.all_series() if s.metric == "overturn_rate").values
    assert rate["2025-12"] == 1.0 and rate["2026-01"] == 0.0 and rate["2025-11"] is None
    first = next(s for s in r.all_series() if s.metric == "median_hours_to_first_decision").values
    assert first["2025-11"] == 3.0 and first["2025-12"] == 0.0 and first["2026-01"] is None  # (2 h + 4 h) / 2
    final = next(s for s in r.all_series() if s.metric == "median_hours_to_final_decision").values
    assert final["2025-12"] == 10.0 and final["2026-01"] == 721.0  # 30 days and 1 hour
    assert values(r, "escalations") == {"2025-12": 1}
    assert values(r, "sla_missed", "review") == {"2025-12": 1}
    assert values(r, "sla_missed", "leadership") == {"2025-12": 1}  # due on 13 December


def test_median_of_an_odd_count_is_the_middle(session, community, mod_a, clock):
    at(clock, 2025, 12, 1, 0)
    flags = [flag(session, community, n, author=str(100000000000008000 + n)) for n in range(3)]
    for hours, f in zip((1, 5, 30), flags):
        at(clock, 2025, 12, 1, 0)
        clock.advance(hours=hours)
        dismiss_flag(session, mod_a, f.id)
    at(clock, 2026, 1, 5, 12)
    first = next(s for s in transparency_report(session, community.id).all_series()
                 if s.metric == "median_hours_to_first_decision").values
    assert first["2025-12"] == 5.0


def test_the_other_community_has_its_own_numbers(session, history):
    from modsys.community import by_slug
    other = by_slug(session, "other")
    r = transparency_report(session, other.id)
    assert values(r, "actions_by_kind", "ban") == {"2025-11": 1}
    assert values(r, "flags", "received") == {}


def test_public_log_names_nobody(session, community, history):
    log = public_log(session, community.id)
    assert [(e.case, e.measure, e.outcome) for e in log][:2] == [
        (log[0].case, "warning", "in force"), (history["a2"].id, "1 week ban", "overturned on appeal")]
    assert all(not hasattr(e, "member") for e in log) and len(log) == 3
    assert log[1].rules == ["respectful", "spam"] and log[1].day == "2025-11-10"
    assert (log[2].case, log[2].outcome) == (history["a1"].id, "ended")  # a 24-hour timeout, long over
