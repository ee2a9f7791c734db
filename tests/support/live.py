"""The app served over real HTTP for a browser: werkzeug in a background thread."""

from __future__ import annotations

import dataclasses
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from werkzeug.serving import make_server


@contextmanager
def served(app: Any, **settings: Any) -> Iterator[str]:
    """`app` on 127.0.0.1:<free port>; yields its URL. Links in pages and notices use
    the public base URL, which is this server; `settings` replaces others too."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{httpd.server_port}"
    state = app.extensions["modsys"]
    state.settings = dataclasses.replace(state.settings, base_url=url, **settings)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        httpd.shutdown()
        thread.join(10)
