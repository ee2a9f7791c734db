"""`modsys staff reset-password` as an operator runs it: a real subprocess."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from modsys.domain.models import AuditEvent, StaffUser
from modsys.services.staff import authenticate
from tests.support.cli import modsys


def test_reset_password_prints_a_working_password_once_and_audits(db_url, engine):
    assert modsys(db_url, "create-user", "dana", "--role", "moderator").returncode == 0
    with Session(engine) as session:
        token_before = session.exec(select(StaffUser.session_token).where(StaffUser.username == "dana")).one()
    out = modsys(db_url, "staff", "reset-password", "dana", "--community", "default")
    assert out.returncode == 0, out.stderr
    password = re.search(r"password: (\S+)", out.stdout).group(1)
    with Session(engine) as session:
        user = authenticate(session, "dana", password)
        assert user is not None and user.session_token != token_before  # logged out everywhere
        verbs = session.exec(select(AuditEvent.verb).where(AuditEvent.subject_id == user.id)).all()
        assert "staff.password_reset" in verbs and password not in str(session.exec(select(AuditEvent.data)).all())
    missing = modsys(db_url, "staff", "reset-password", "nobody")
    assert missing.returncode == 1 and "no staff account 'nobody'" in missing.stderr
    elsewhere = modsys(db_url, "staff", "reset-password", "dana", "--community", "nowhere")
    assert elsewhere.returncode != 0 and "password:" not in elsewhere.stdout
