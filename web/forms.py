"""Turning form fields into service inputs. Parsing only: the services decide."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Request

from modsys.domain.errors import ValidationFailed
from modsys.domain.policy import parse_duration
from modsys.reads import query_args
from modsys.services.evidence import EvidenceInput

_TEXT_ROW = re.compile(r"^ev_content_(\d{1,3})$")
_FILE_ROW = re.compile(r"^ev_file_(\d{1,3})$")


def evidence_rows(max_items: int) -> tuple[int, int]:
    """How many text and file rows the action form offers: the policy's maximum
    of evidence items (less what is attached anyway), about half of them files."""
    files = max(max_items, 0) // 2
    return max(max_items, 0) - files, files

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
    """Every evidence row sent, in row order; the service refuses more than the policy allows."""
    items = []
    for i in _rows(request.form, _TEXT_ROW):
        content = request.form.get(f"ev_content_{i}", "").strip()
        if content:
            items.append(EvidenceInput(kind=request.form.get(f"ev_kind_{i}", "text"),
                                       visibility=request.form.get(f"ev_vis_{i}", "private"), content=content))
    for i in _rows(request.files, _FILE_ROW):
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
    return {i: upload.filename for i in _rows(request.files, _FILE_ROW)
            if (upload := request.files.get(f"ev_file_{i}")) and upload.filename}


def _rows(fields, pattern: re.Pattern) -> list[int]:
    return sorted({int(m.group(1)) for name in fields if (m := pattern.match(name))})
