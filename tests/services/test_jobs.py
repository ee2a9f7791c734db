"""The scheduled jobs, one by one and together: what they change, that running
them again changes nothing, and that a crash half-way leaves nothing half-done.
Time moves with the FrozenClock."""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import select

from modsys import audit
from modsys.adapters.discord.webhooks import set_webhook
from modsys.domain.actors import CLI
from modsys.domain.models import (
    Action,
    Appeal,
    AppealReminder,
    AuditEvent,
    AuditHead,
    OutboxMessage,
)
from modsys.infra.config import load_settings
from modsys.runtime import jobs, scheduler
from modsys.services import appeals as appeal_service
from modsys.services.actions import cosign_action
from modsys.services.decisions import Decision, final_decision
from modsys.services.evidence import appeal_possible_or_open
from tests.conftest import DAY, HOUR
from tests.factories import appeal, ban, timeout
from tests.support.bulk import insert_appeals

SETTINGS = load_settings({"SECRET_KEY": "test-secret-key-not-for-production", "MODSYS_BASE_URL": "https://m.example",
                          # run_once takes a checkpoint: keep its log out of the working tree
                          "MODSYS_AUDIT_CHECKPOINTS": str(Path(tempfile.mkdtemp(prefix="modsys-jobs-")) / "cp.log")})


@pytest.fixture(autouse=True)
def _own_checkpoint_log(tmp_path, monkeypatch):
    """Each test its own checkpoint log: the jobs verify the chain against it, and
    another test's checkpoints name another database's events."""
    monkeypatch.setattr(__import__(__name__, fromlist=["SETTINGS"]), "SETTINGS",
                        dataclasses.replace(SETTINGS, audit_checkpoints=tmp_path / "cp.log"))


def rendered(session, message) -> dict:
    """The embed a message is delivered as (events are rendered at delivery)."""
    from modsys.infra.config import load_settings
    from modsys.notify.messages import render

    return render(session, message, load_settings({"SECRET_KEY": "k" * 32}))["embeds"][0]


def fresh(session):
    session.commit()  # end any read snapshot (SQLite), keep objects readable
    session.expire_all()
    return session


def snapshot(engine) -> dict:
    """Everything a job may change, in comparable form."""
    with engine.connect() as conn:
        def q(sql):
            return sorted(tuple(r) for r in conn.execute(sa.text(sql)))
        return {
            "appeals": q("SELECT id, status, escalated_at, leadership_due_at, escalation_reason FROM appeal"),
            "actions": q("SELECT id, status, appealable FROM action"),
            "audit": q("SELECT seq, verb, subject_id, hash FROM auditevent"),
            "outbox": q("SELECT id, channel, event, dedupe_key FROM outboxmessage"),
            "reminders": q("SELECT appeal_id, stage, threshold FROM appealreminder"),
        }


def events(session, verb):
    return list(fresh(session).exec(select(AuditEvent).where(AuditEvent.verb == verb).order_by(AuditEvent.seq)))


def outbox_rows(session, event_name=None):
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if event_name:
        query = query.where(OutboxMessage.event == event_name)
    return list(fresh(session).exec(query))


def appealed(session, mod, member) -> Appeal:
    return appeal(session, member, ban(session, mod, member))


# --- escalation ---------------------------------------------------------------------


def test_overdue_appeals_escalate_in_batches_once_each(engine, session, community, clock, mod_a, mod_b, make_member):
    overdue = insert_appeals(engine, community.id, 23, submitted_at=clock.now() - 80 * HOUR)
    in_review = appealed(session, mod_a, make_member())
    appeal_service.start_review(session, mod_b, in_review.id)
    clock.advance(hours=73)
    not_yet = appealed(session, mod_a, make_member())
    before = fresh(session).exec(select(AuditHead)).one().seq

    assert jobs.escalate_overdue_appeals(engine, batch=5) == {"escalated": 24}
    escalated = fresh(session).exec(select(Appeal).where(Appeal.status == "escalated").order_by(Appeal.id)).all()
    assert [a.id for a in escalated] == sorted(overdue + [in_review.id])
    for a in escalated:
        assert (a.escalated_at, a.escalated_by_id, a.escalation_reason) == (clock.now(), None, "review SLA passed")
        assert a.leadership_due_at == clock.now() + 7 * DAY
    assert session.get(Appeal, not_yet.id).status == "submitted"

    logged = events(session, "appeal.escalated")
    assert [e.subject_id for e in logged] == sorted(overdue) + [in_review.id]  # batch by batch, id order within
    assert [e.seq for e in logged] == list(range(before + 1, before + 25))
    assert all(e.actor_name == "scheduler" and e.actor_kind == "system" and e.data["reason"] == "review SLA passed"
               for e in logged)
    notes = outbox_rows(session, "appeal.escalated")
    assert sorted(n.dedupe_key for n in notes) == sorted(f"appeal.escalated:{a.id}" for a in escalated)
    assert {n.channel for n in notes} == {"leadership"}
    mine = next(n for n in notes if n.dedupe_key == f"appeal.escalated:{in_review.id}")
    assert rendered(session, mine)["title"] == f"Escalated to leadership: appeal #{in_review.id} (case #{in_review.action_id})"
    assert audit.verify(session).ok

    again = snapshot(engine)
    assert jobs.escalate_overdue_appeals(engine) == {"escalated": 0}
    assert snapshot(engine) == again


def test_scheduler_and_manual_escalation_share_the_message_shape(engine, session, community, clock, mod_a, mod_b,
                                                                  make_member):
    manual = appealed(session, mod_a, make_member())
    appeal_service.escalate_appeal(session, mod_b, manual.id, "Needs leadership: a senior moderator is involved.")
    automatic = appealed(session, mod_a, make_member())
    clock.advance(hours=72)
    assert jobs.escalate_overdue_appeals(engine) == {"escalated": 1}  # the manual one is escalated already
    by_hand, by_job = outbox_rows(session, "appeal.escalated")
    assert by_hand.dedupe_key == f"appeal.escalated:{manual.id}" and by_job.dedupe_key == f"appeal.escalated:{automatic.id}"
    assert [f["name"] for f in rendered(session, by_hand)["fields"]] == [f["name"] for f in rendered(session, by_job)["fields"]]
    hand_event, job_event = events(session, "appeal.escalated")
    assert set(job_event.data) >= set(hand_event.data)


class Crash(Exception):
    pass


def test_a_crash_mid_run_leaves_no_batch_half_done(engine, session, community, clock):
    ids = insert_appeals(engine, community.id, 12, submitted_at=clock.now() - 80 * HOUR)
    inserts = []

    @event.listens_for(engine, "before_cursor_execute")
    def crash_in_second_batch(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO auditevent"):
            inserts.append(statement)
            if len(inserts) == 2:
                raise Crash("the process died here")

    try:
        with pytest.raises(Crash):
            jobs.escalate_overdue_appeals(engine, batch=5)
    finally:
        event.remove(engine, "before_cursor_execute", crash_in_second_batch)

    state = snapshot(engine)  # batch 1 whole, batch 2 not at all
    assert [s for _, s, *_ in state["appeals"]] == ["escalated"] * 5 + ["submitted"] * 7
    assert len(state["audit"]) == 5 and len(state["outbox"]) == 5
    assert audit.verify(fresh(session)).ok

    assert jobs.escalate_overdue_appeals(engine, batch=5) == {"escalated": 7}
    assert sorted(e.subject_id for e in events(session, "appeal.escalated")) == ids
    assert len(outbox_rows(session, "appeal.escalated")) == 12 and audit.verify(session).ok


# --- reminders ----------------------------------------------------------------------


def test_reminders_once_per_threshold_and_stage(engine, session, community, clock, mod_a, make_member):
    a = appealed(session, mod_a, make_member())  # review SLA 72h, reminders [0.5, 0.9]
    clock.advance(hours=35)
    assert jobs.send_reminders(engine) == {"reminders": 0}
    clock.advance(hours=1)  # 36h = 50%
    assert jobs.send_reminders(engine) == {"reminders": 1}
    assert jobs.send_reminders(engine) == {"reminders": 0}
    clock.advance(hours=29)  # 65h > 90%
    assert jobs.send_reminders(engine) == {"reminders": 1}
    clock.advance(hours=7)
    assert jobs.escalate_overdue_appeals(engine) == {"escalated": 1}
    assert jobs.send_reminders(engine) == {"reminders": 0}  # the leadership clock just started
    clock.advance(hours=84)  # half of 7 days
    assert jobs.send_reminders(engine) == {"reminders": 1}
    assert jobs.send_reminders(engine) == {"reminders": 0}

    stored = fresh(session).exec(select(AppealReminder.stage, AppealReminder.threshold)
                                 .where(AppealReminder.appeal_id == a.id).order_by(AppealReminder.id)).all()
    assert stored == [("review", 0.5), ("review", 0.9), ("leadership", 0.5)]
    sent = outbox_rows(session)
    reminders = [(m.channel, m.dedupe_key) for m in sent if m.event.startswith("appeal.reminder")]
    assert reminders == [("appeals", f"appeal.reminder:{a.id}:review:0.5"),
                         ("appeals", f"appeal.reminder:{a.id}:review:0.9"),
                         ("leadership", f"appeal.reminder:{a.id}:leadership:0.5")]
    first = next(m for m in sent if m.event == "appeal.reminder.review")
    # Rendered now, after the review deadline passed: it says so (not "50% has passed").
    assert rendered(session, first)["description"] == (
        f"The 3 days allowed for its review ran out at {a.review_due_at:%Y-%m-%d %H:%M} UTC: it is overdue.")


def test_late_scheduler_sends_one_reminder_for_the_highest_threshold(engine, session, community, clock, mod_a,
                                                                       make_member):
    a = appealed(session, mod_a, make_member())
    clock.advance(hours=70)  # 97%: both thresholds passed while nobody ran the job
    assert jobs.send_reminders(engine) == {"reminders": 1}
    [message] = [m for m in outbox_rows(session) if m.event == "appeal.reminder.review"]
    assert message.dedupe_key == f"appeal.reminder:{a.id}:review:0.9"
    assert len(fresh(session).exec(select(AppealReminder)).all()) == 2  # 0.5 will never come late
    assert jobs.send_reminders(engine) == {"reminders": 0}


def test_concurrent_reminder_runs_remind_once(engine, session, community, clock):
    insert_appeals(engine, community.id, 30, submitted_at=clock.now() - 40 * HOUR)
    barrier, results = threading.Barrier(3), []

    def run():
        barrier.wait()
        results.append(jobs.send_reminders(engine)["reminders"])

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(results) == 30  # whoever got there first, each appeal once
    assert len(outbox_rows(session, "appeal.reminder.review")) == 30


# --- expiry and appeal windows --------------------------------------------------------


def test_timed_sanctions_expire_once(engine, session, community, clock, mod_a, make_member):
    short = timeout(session, mod_a, make_member(), hours=1)
    long = timeout(session, mod_a, make_member(), hours=48)
    clock.advance(hours=2)
    assert jobs.expire_sanctions(engine, batch=1) == {"expired": 1}
    assert jobs.expire_sanctions(engine) == {"expired": 0}
    assert fresh(session).get(Action, short.id).status == "expired" and session.get(Action, long.id).status == "active"
    assert [m.dedupe_key for m in outbox_rows(session, "action.expired")] == [f"action.expired:{short.id}"]


def test_appeal_windows_close_unless_an_appeal_is_open(engine, session, community, clock, mod_a, mod_b, leader,
                                                       make_member):
    quiet = ban(session, mod_a, make_member())
    appellant = make_member()
    contested = ban(session, mod_a, appellant)
    open_appeal = appeal(session, appellant, contested)
    unsigned = ban(session, mod_a, make_member(), days=None)  # permanent: waits for a co-signature
    clock.advance(days=181)

    assert jobs.close_appeal_windows(engine, batch=1) == {"windows_closed": 1}
    assert jobs.close_appeal_windows(engine) == {"windows_closed": 0}
    fresh(session)
    assert [session.get(Action, a.id).appealable for a in (quiet, contested, unsigned)] == [False, True, True]
    [closed] = events(session, "action.appeal_window_closed")
    assert closed.subject_id == quiet.id and closed.data["appeal_deadline"] == str(quiet.appeal_deadline)
    # The evidence rule agrees: closed for the quiet case, still open while an appeal is.
    assert not appeal_possible_or_open(session, session.get(Action, quiet.id))
    assert appeal_possible_or_open(session, session.get(Action, contested.id))

    jobs.escalate_overdue_appeals(engine)
    final_decision(fresh(session), leader, open_appeal.id, Decision("upheld", "The evidence shows repeated insults."))
    assert jobs.close_appeal_windows(engine) == {"windows_closed": 1}
    assert not fresh(session).get(Action, contested.id).appealable

    cosigned = cosign_action(session, mod_b, unsigned.id)  # the co-signature opens a fresh window
    assert cosigned.appealable and cosigned.appeal_deadline == clock.now() + 180 * DAY
    assert jobs.close_appeal_windows(engine) == {"windows_closed": 0}
    assert audit.verify(fresh(session)).ok


# --- the audit check ------------------------------------------------------------------


def _tamper(engine, seq):
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS auditevent_no_update")
        conn.exec_driver_sql(f"UPDATE auditevent SET actor_name = 'forger' WHERE seq = {seq}")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE auditevent ENABLE TRIGGER auditevent_append_only")


def test_nightly_audit_check_records_itself_and_alerts_once_per_break(engine, session, community, clock, mod_a,
                                                                     make_member):
    ban(session, mod_a, make_member())
    assert jobs.verify_audit_chain(engine, settings=SETTINGS) == {"verified": True, "ok": True, "checked": 2}
    assert jobs.verify_audit_chain(engine, settings=SETTINGS) == {"verified": False, "reason": "not due"}
    assert outbox_rows(session, "audit.broken") == []

    _tamper(engine, 2)
    clock.advance(hours=21)
    result = jobs.verify_audit_chain(engine, settings=SETTINGS)
    assert (result["ok"], result["broken_seq"]) == (False, 2)
    assert jobs.verify_audit_chain(engine, settings=SETTINGS, force=True)["broken_seq"] == 2
    [alert] = outbox_rows(session, "audit.broken")
    assert alert.channel == "leadership" and alert.dedupe_key == f"audit.broken:2:{community.id}"
    assert "event #2" in rendered(session, alert)["title"]
    assert [e.verb for e in events(session, "audit.verify_failed")] == ["audit.verify_failed"] * 2


# --- all together ------------------------------------------------------------------------


def test_every_job_twice_changes_nothing_more_than_once(engine, session, community, clock, mod_a, mod_b, make_member):
    for hours in (80, 50, 10):
        insert_appeals(engine, community.id, 4, submitted_at=clock.now() - hours * HOUR)
    timeout(session, mod_a, make_member(), hours=1)
    ban(session, mod_a, make_member())
    clock.advance(days=200)
    insert_appeals(engine, community.id, 3, submitted_at=clock.now() - 40 * HOUR)

    first = scheduler.run_once(engine, SETTINGS)
    assert first["escalate_overdue_appeals"]["escalated"] == 12
    assert first["send_reminders"]["reminders"] == 3
    assert first["expire_sanctions"]["expired"] == 2 + 12  # the timeout, the 7-day ban, 12 older bulk bans
    assert first["close_appeal_windows"]["windows_closed"] == 2  # bulk bans have open appeals
    assert first["deliver_outbox"]["skipped"] > 0  # no webhooks: recorded as skipped, not lost
    once = snapshot(engine)
    second = scheduler.run_once(engine, SETTINGS)
    assert snapshot(engine) == once
    second.pop("checkpoint_audit_chain")  # a checkpoint every run: the log outside the database grows
    assert all(not any(v for k, v in s.items() if k != "reason") for s in second.values()), second
    assert audit.verify(fresh(session)).ok


def test_journey_nobody_reviews_and_leadership_decides(engine, session, community, clock, mod_a, leader, make_member,
                                                      fake_discord):
    for channel, hook in (("modlog", "1"), ("appeals", "2"), ("leadership", "3")):
        set_webhook(session, CLI, community.id, channel, fake_discord.url(hook, "tok"))
    session.commit()
    member = make_member("Bea")
    action = ban(session, mod_a, member)
    filed = appeal(session, member, action)
    # Each run also posts its audit checkpoint to leadership (the head moved).
    # The member's notice is a DM: with no bot here it is skipped, with the reason (test_member_dm.py).
    assert scheduler.run_once(engine, SETTINGS)["deliver_outbox"] == {"sent": 3, "skipped": 1}  # modlog, appeals

    clock.advance(hours=73)  # nobody reviewed it in time
    ran = scheduler.run_once(engine, SETTINGS)
    assert ran["escalate_overdue_appeals"] == {"escalated": 1} and ran["deliver_outbox"] == {"sent": 2}
    assert fresh(session).get(Appeal, filed.id).status == "escalated"
    final_decision(fresh(session), leader, filed.id, Decision("overturned", "The quoted message was a report, not an insult."))
    assert scheduler.run_once(engine, SETTINGS)["deliver_outbox"] == {"sent": 2, "skipped": 1}  # appeals; member
    fresh(session)
    assert session.get(Appeal, filed.id).status == "decided" and session.get(Action, action.id).status == "overturned"

    def seen(hook):
        titles = [p["embeds"][0]["title"] for p in fake_discord.payloads_for(hook)]
        return [t for t in titles if not t.startswith("Audit checkpoint")]

    assert seen("1") == [f"Action filed: case #{action.id}"]
    assert seen("2") == [f"New appeal: appeal #{filed.id} (case #{action.id})",
                         f"Appeal #{filed.id} overturned (case #{action.id})"]
    assert seen("3") == [f"Escalated to leadership: appeal #{filed.id} (case #{action.id})"]
    posted = [p["embeds"][0]["title"] for p in fake_discord.payloads_for("3")]
    assert len([t for t in posted if t.startswith("Audit checkpoint at event #")]) == 3
    assert {m.event: m.status for m in outbox_rows(session) if m.status != "sent"} == {
        "member.notice": "skipped", "member.decision": "skipped"}  # no bot in this test: DMs can't go
    assert audit.verify(session).ok
