"""The layers keep their shape: web/ parses, calls a service and renders; it
holds no query and no commit (read models live in modsys/, changes in services)."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"


def test_web_holds_no_query_and_no_commit():
    offenders = [f"{path.name}:{n}: {line.strip()}"
                 for path in sorted(WEB.rglob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r"\bselect\(|\.commit\(\)|\.exec\(", line)]
    assert offenders == [], "move these into modsys/ (a read model or a service):\n" + "\n".join(offenders)
