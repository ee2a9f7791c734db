"""A believable demo community: staff in every role, members, flags, actions of
every kind with public and private evidence, and appeals in every state.

Demo staff have fixed, printed passwords, so `modsys demo` refuses to run in
production mode."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from modsys.domain import clock
from modsys.domain.actors import CLI, Actor
from modsys.domain.models import Community, Member, StaffUser
from modsys.services import appeals, decisions, flags
from modsys.services.actions import NewAction, cosign_action, file_action
from modsys.services.api_keys import create_api_key
from modsys.services.decisions import Decision, Modification
from modsys.services.evidence import EvidenceInput, add_evidence
from modsys.services.members import get_or_create_member
from modsys.services.staff import create_staff

DEMO_STAFF = [  # (username, role, password)
    ("admin", "admin", "demo-admin-password"),
    ("lead", "leadership", "demo-lead-password"),
    ("alice", "moderator", "demo-alice-password"),
    ("bob", "moderator", "demo-bob-password"),
    ("carol", "moderator", "demo-carol-password"),
]

MESSAGES = [  # (author, content, reporters)
    ("grumpy_gus", "you are a complete idiot and everyone here hates you", 3),
    ("spammy_sam", "FREE NITRO click here >>> totally-legit.example", 5),
    ("leaky_lou", "anyone want the leaked weights? DM me for the torrent", 2),
    ("heated_hana", "this take is so stupid it hurts", 1),
    ("quiet_quinn", "I am gay and I love this community", 1),
    ("polite_pat", "could a mod move this thread to #help?", 1),
    ("angry_ash", "shut up or I will find where you live", 4),
    ("meme_max", "lmao this bot is garbage", 1),
    # Left open, for the queue:
    ("toxic_tim", "go kill yourself, nobody wants you here", 6),
    ("snarky_sue", "wow you really are dumb as a rock", 2),
    ("loud_leo", "THIS SERVER IS A JOKE AND THE MODS ARE CLOWNS", 3),
    ("curious_cam", "is it ok to share benchmark numbers from the paper?", 1),
    ("bitter_bo", "people like you should be banned from the internet", 2),
    ("polyglot_pia", "eres un idiota y todos lo saben", 1),
]

STATEMENTS = [
    "I was quoting the person who insulted me so the mods could see it. I did not insult anyone myself.",
    "I understand I broke the rule but a permanent ban feels too harsh for a first offence.",
    "The link I posted was the official release, not a leak. Please check the source again.",
    "My account was compromised at the time; I have since changed my password and enabled 2FA.",
    "I got carried away in a heated debate. I apologise and would like a chance to come back.",
]


def _png(width: int = 120, height: int = 40) -> bytes:
    """A small grey PNG, standing in for a screenshot."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xcc" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _staff(session: Session, name: str) -> Actor:
    return Actor.staff(session.exec(select(StaffUser).where(StaffUser.username == name)).one())


def fill(session: Session, community: Community) -> list[tuple[str, str, str]]:
    """Fill the database; returns the staff logins. Refuses if staff exist already."""
    if session.exec(select(StaffUser.id)).first():
        raise RuntimeError("this database already has staff accounts; demo data goes into an empty database")
    real_now = clock.now()
    demo_clock = clock.FrozenClock(real_now - timedelta(days=6))
    with clock.using(demo_clock):
        for username, role, password in DEMO_STAFF:
            create_staff(session, CLI, community.id, username, role, password)
        alice, bob, carol, lead = (_staff(session, n) for n in ("alice", "bob", "carol", "lead"))
        key, _ = create_api_key(session, CLI, community.id, "demo-bot", "reporter")  # the chat bot that reports
        bot = Actor.api(key)

        flagged = []
        for i, (author, content, reporters) in enumerate(MESSAGES):
            demo_clock.advance(hours=3)
            for r in range(reporters):
                flag, _ = flags.report_flag(session, bot, community.id, flags.FlagReportInput(
                    message_id=str(1300000000000000000 + i), channel_id="1200000000000000001",
                    channel_name=["general", "help", "off-topic"][i % 3], author_id=str(1100000000000000000 + i),
                    author_name=author, content=content, reporter=str(1000 + r),
                    reason=["insult", "spam", "leak", "harassment"][i % 4], sent_at=demo_clock.now() - timedelta(minutes=5)))
            flagged.append(flag)

        def act(mod: Actor, flag_index: int, kind: str, rule: str, duration: timedelta | None, reason: str,
                private: str):
            flag = flagged[flag_index]
            return flags.act_on_flag(session, mod, flag.id, NewAction(
                member_id=flag.author_id, kind=kind, rules=[rule], public_reason=reason, duration=duration,
                private_note=private, evidence=[EvidenceInput("text", "private", private)]))

        demo_clock.advance(hours=2)
        insult = act(alice, 0, "ban", "respectful", timedelta(days=7), "Repeated insults aimed at another member.",
                     "Third incident this month; see cases in the member file.")
        add_evidence(session, alice, insult.id, EvidenceInput("file", "public", data=_png(), filename="screenshot.png"))
        spam = act(bob, 1, "ban", "spam", None, "Scam links posted in several channels.",
                   "Account is a spam bot; same link posted in 14 channels.")
        cosign_action(session, carol, spam.id)
        leak = act(alice, 2, "timeout", "leaks", timedelta(hours=24), "Offering leaked model weights.",
                   "Offered a torrent of leaked weights in DMs too (screenshots from two members).")
        heated = act(carol, 3, "warning", "respectful", None, "Calling someone's opinion stupid is not respectful.",
                     "First offence; friendly tone otherwise.")
        threat = act(bob, 6, "ban", "illegal", timedelta(days=30), "A threat to find where someone lives.",
                     "Victim asked us to keep their identity private.")
        flags.dismiss_flag(session, carol, flagged[4].id, "A benign identity statement; the report was abusive.")
        flags.dismiss_flag(session, alice, flagged[7].id, "Criticism of the bot is fine.")

        members = [get_or_create_member(session, community.id, str(1100000000000000100 + i), name)
                   for i, name in enumerate(["nina_nightowl", "oscar_oak", "pia_pixel", "rory_rain"])]
        session.commit()
        note = file_action(session, bob, NewAction(member_id=members[0].id, kind="note", rules=["instructions"],
                                                  public_reason="", private_note="Asked twice to move off-topic chat; complied."))
        pending = file_action(session, alice, NewAction(member_id=members[1].id, kind="ban", rules=["illegal"],
                                                       public_reason="Posted another member's home address.",
                                                       evidence=[EvidenceInput("text", "public", "The address was posted in #general at 21:14."),
                                                                 EvidenceInput("text", "private", "Victim: member 1100000000000000107.")]))
        to_lift = file_action(session, carol, NewAction(member_id=members[2].id, kind="ban", rules=["spam"],
                                                       public_reason="Advertising in every channel.", duration=timedelta(days=3)))
        file_action(session, carol, NewAction(member_id=members[2].id, kind="unban", rules=["spam"],
                                              public_reason="Lifted early after the member apologised in a ticket."))
        overturn_me = file_action(session, bob, NewAction(member_id=members[3].id, kind="timeout", rules=["respectful"],
                                                         public_reason="Insulting another member.", duration=timedelta(hours=1)))
        del note, pending, to_lift

        def member_of(action):
            return Actor.member(session.get(Member, action.member_id))

        # Appeals are recent, so their review clocks are still running on first start.
        demo_clock.set(real_now - timedelta(hours=30))
        submitted = appeals.submit_appeal(session, member_of(leak), leak.id, STATEMENTS[2])
        in_review = appeals.submit_appeal(session, member_of(insult), insult.id, STATEMENTS[0])
        appeals.start_review(session, bob, in_review.id)
        appeals.add_message(session, bob, in_review.id, "Can you tell us who you were quoting and where?")
        appeals.add_message(session, member_of(insult), in_review.id, "In #general, right after their message at 14:02.")
        escalated = appeals.submit_appeal(session, member_of(spam), spam.id, STATEMENTS[3])
        appeals.start_review(session, alice, escalated.id)
        appeals.escalate_appeal(session, alice, escalated.id, "Permanent ban with a compromised-account claim.",
                                "I lean towards reducing to a 7-day ban if the owner verifies the account.")
        upheld = appeals.submit_appeal(session, member_of(threat), threat.id, STATEMENTS[4])
        appeals.start_review(session, alice, upheld.id)
        decisions.decide_appeal(session, alice, upheld.id, Decision("upheld", "Threats are never acceptable; the ban stands for its full length."))
        withdrawn = appeals.submit_appeal(session, member_of(heated), heated.id, STATEMENTS[1])
        appeals.withdraw_appeal(session, member_of(heated), withdrawn.id)
        overturned = appeals.submit_appeal(session, member_of(overturn_me), overturn_me.id,
                                           "I was replying to a bot, not to a person. Please look at the channel history.")
        appeals.start_review(session, carol, overturned.id)
        decisions.decide_appeal(session, carol, overturned.id, Decision("overturned", "The message answered a bot's test output; nobody was insulted."))
        modified_target = file_action(session, carol, NewAction(member_id=members[0].id, kind="ban", rules=["instructions"],
                                                               public_reason="Ignored repeated instructions to stop.",
                                                               duration=timedelta(days=7)))
        modified = appeals.submit_appeal(session, member_of(modified_target), modified_target.id, STATEMENTS[1])
        appeals.start_review(session, alice, modified.id)
        appeals.escalate_appeal(session, alice, modified.id, "Borderline case; leadership should set the precedent.")
        decisions.final_decision(session, lead, modified.id, Decision(
            "modified", "A week is too long for a first instruction issue; a 24-hour timeout fits the ladder.",
            Modification("timeout", timedelta(hours=24))),
            statement_title="Instructions and proportionate sanctions",
            statement_body="Ignoring a moderator's instruction starts at a warning; we reduced this ban to a timeout.")
    del submitted
    return DEMO_STAFF
