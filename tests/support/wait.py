"""Bounded waiting for work done by other threads or processes."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05,
               on_timeout: Callable[[], str] = lambda: "") -> Any:
    """Poll `condition` until it returns something truthy (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{on_timeout()}")
