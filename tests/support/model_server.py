"""A real HTTP server serving a model mirror (a copy of a modsys model
directory), with the failures a download meets: a connection cut mid-file,
a wrong checksum, and a transfer held halfway until the test lets it go."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class ModelMirror:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.cut_checkpoint = False  # send half the checkpoint, then hang up
        self.wrong_sha256 = False  # serve a manifest whose checkpoint sha256 is wrong
        self.hold = threading.Event()  # set: the checkpoint transfer pauses halfway...
        self.release = threading.Event()  # ...until this is set
        self.requests: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                mirror.requests.append(self.path)
                path = (mirror.root / self.path.lstrip("/")).resolve()
                if not path.is_relative_to(mirror.root.resolve()) or not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                if path.name == "manifest.json" and mirror.wrong_sha256:
                    manifest = json.loads(body)
                    manifest["sha256"] = "0" * 64
                    body = json.dumps(manifest).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path.name != "checkpoint.ckpt":
                    self.wfile.write(body)
                    return
                half = len(body) // 2
                self.wfile.write(body[:half])
                self.wfile.flush()
                if mirror.cut_checkpoint:
                    self.close_connection = True
                    return
                if mirror.hold.is_set():
                    mirror.release.wait(30)
                self.wfile.write(body[half:])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "ModelMirror":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
