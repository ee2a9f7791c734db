"""Turning form fields into service inputs. Parsing only: the services decide."""

from __future__ import annotations

from datetime import timedelta

from flask import Request

from modsys import query_args
from modsys.errors import ValidationFailed
from modsys.policy import parse_duration
from modsys.services.evidence import EvidenceInput

TEXT_EVIDENCE_ROWS = 3
FILE_EVIDENCE_ROWS = 2


def duration(text: str | None, field: str = "duration") -> timedelta | None:
    text = (text or "").strip()
    if not text or text.lower() == "permanent":
        return None
    try:
        return parse_duration(text)
    except ValueError as e:
        raise ValidationFailed(str(e), field=field) from None


def int_field(value: str | None, field: str) -> int:
    return query_args.whole_number(value, field)


def evidence(request: Request) -> list[EvidenceInput]:
    items = []
    for i in range(TEXT_EVIDENCE_ROWS):
        content = request.form.get(f"ev_content_{i}", "").strip()
        if content:
            items.append(EvidenceInput(kind=request.form.get(f"ev_kind_{i}", "text"),
                                       visibility=request.form.get(f"ev_vis_{i}", "private"), content=content))
    for i in range(FILE_EVIDENCE_ROWS):
        upload = request.files.get(f"ev_file_{i}")
        if upload and upload.filename:
            items.append(EvidenceInput(kind="file", visibility=request.form.get(f"ev_file_vis_{i}", "private"),
                                       data=upload.read(), filename=upload.filename,
                                       sensitive=request.form.get(f"ev_file_sensitive_{i}") == "1"))
    return items


def chosen_files(request: Request) -> dict[int, str]:
    """{row: file name} of the files chosen in this request. A page re-rendered
    from it (a preview, a refusal) can't hand them back to the browser's file
    inputs, so it names each one to choose again."""
    return {i: upload.filename for i in range(FILE_EVIDENCE_ROWS)
            if (upload := request.files.get(f"ev_file_{i}")) and upload.filename}
