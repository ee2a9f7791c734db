"""Downloading a model: `modsys model fetch`, and `modsys serve`'s first start.

Where from. By default detoxify's release checkpoint (GitHub) and the
Hugging Face config and tokenizer it names. With MODSYS_MODEL_URL_BASE, a
mirror: any HTTPS server serving a copy of a modsys model directory, i.e.
``<base>/<model>/manifest.json`` whose sha256 entries (every ``hf/`` file) are
checked on arrival. Either way the checkpoint must match the pin in
``pins.py`` (or the operator's MODSYS_MODEL_SHA256), never just the mirror's
own manifest, and it is only ever loaded as tensors (``weights_only``).
Plain ``http://`` is refused, for a mirror and for any redirect, unless
MODSYS_MODEL_ALLOW_HTTP=1 (a mirror on the same host or a trusted network).

Never a partial file that later loads: every file streams into a staging
directory, is hashed on the way, and a short or mismatching download raises
before ``install_model`` copies, re-hashes and renames the whole model into
place in one step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from .model_store import (
    MANIFEST,
    ChecksumMismatch,
    ModelError,
    ModelFetchError,
    _check_name,
    install_model,
    locate,
    read_checkpoint,
)
from .pins import RELEASES, pinned_sha256
from .scorer import ModelInfo

log = logging.getLogger(__name__)

BLOCK = 1 << 20
TIMEOUT = 30  # seconds without a byte before a download counts as failed
Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class Cancelled(ModelFetchError):
    pass


def check_scheme(url: str, allow_http: bool) -> None:
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and allow_http):
        return
    hint = (" Serve the mirror over HTTPS, or set MODSYS_MODEL_ALLOW_HTTP=1 if it is on this host or a "
            "network you trust (anyone on the path could swap the files)." if scheme == "http" else "")
    raise ModelFetchError(f"refusing to download models from {url}: only https:// is allowed.{hint}")


def download(url: str, dest: Path, *, sha256: str | None = None, sha256_prefix: str | None = None,
             progress: Progress | None = None, allow_http: bool = False, pinned: bool = False) -> str:
    """Stream `url` into `dest`; returns its sha256. Raises ModelFetchError on
    a network error, a short body or a plain-HTTP URL or redirect,
    ChecksumMismatch on a wrong hash (and deletes `dest` either way)."""
    check_scheme(url, allow_http)
    digest = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, open(dest, "wb") as out:
            check_scheme(response.geturl(), allow_http)  # a redirect may downgrade
            total = int(response.headers["Content-Length"]) if response.headers.get("Content-Length") else None
            while block := response.read1(BLOCK):  # what has arrived, so progress moves
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total is not None and done != total:  # http.client returns short reads when the peer hangs up
            raise ModelFetchError(f"download of {url} was cut off after {done} of {total} bytes; try again")
        actual = digest.hexdigest()
        expected = sha256 or sha256_prefix
        if expected and not actual.startswith(expected.lower()):
            what = "the pinned" if pinned else "the expected"
            raise ChecksumMismatch(f"{url} has sha256 {actual}, not {what} {expected}; the download was discarded")
        return actual
    except ModelError:
        dest.unlink(missing_ok=True)
        raise
    except (OSError, ValueError) as e:  # URLError, HTTPError, timeouts, IncompleteRead, DNS
        dest.unlink(missing_ok=True)
        raise ModelFetchError(
            f"could not download {url}: {e}. Without internet here, download the checkpoint and its Hugging "
            f"Face config/tokenizer elsewhere, copy them over and use `modsys model install`."
        ) from e


def _from_mirror(base: str, model: str, pin: str, tmp: Path, progress: Progress | None,
                 allow_http: bool) -> tuple[Path, Path, str]:
    url = f"{base}/{model}"
    manifest_file = tmp / MANIFEST
    download(f"{url}/{MANIFEST}", manifest_file, allow_http=allow_http)
    try:
        manifest = json.loads(manifest_file.read_text())
        sha256, files = manifest["sha256"], manifest["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFetchError(f"{url}/{MANIFEST} is not a modsys model manifest with sha256 and files: {e}") from e
    if not str(sha256).lower().startswith(pin):
        raise ChecksumMismatch(f"{url}/{MANIFEST} offers a checkpoint with sha256 {sha256}, not the pinned {pin} "
                               f"of {model!r}; nothing was downloaded")
    ckpt = tmp / "checkpoint.ckpt"
    download(f"{url}/checkpoint.ckpt", ckpt, sha256_prefix=pin, progress=progress, allow_http=allow_http,
             pinned=True)
    hf = tmp / "hf"
    hf.mkdir()
    for name, digest in files.items():
        if "/" in name or name.startswith("."):
            raise ModelFetchError(f"{url}/{MANIFEST} names an unsafe file {name!r}")
        download(f"{url}/hf/{name}", hf / name, sha256=digest, allow_http=allow_http)
    return ckpt, hf, f"{url}/checkpoint.ckpt"


def _from_release(model: str, pin: str, tmp: Path, progress: Progress | None) -> tuple[Path, Path, str]:
    import transformers

    url = RELEASES[model].url
    ckpt = tmp / "checkpoint.ckpt"
    download(url, ckpt, sha256_prefix=pin, progress=progress, pinned=True)
    args = read_checkpoint(ckpt)["config"]["arch"]["args"]
    hf = tmp / "hf"
    try:
        model_class = getattr(transformers, args["model_name"])
        model_class.config_class.from_pretrained(args["model_type"], num_labels=args["num_classes"]).save_pretrained(hf)
        getattr(transformers, args["tokenizer_name"]).from_pretrained(args["model_type"]).save_pretrained(hf)
    except OSError as e:
        raise ModelFetchError(f"could not download the Hugging Face config/tokenizer {args['model_type']!r}: {e}") from e
    return ckpt, hf, url


def fetch_model(model_dir: Path, model: str = "original", *, url_base: str | None = None,
                progress: Progress | None = None, allow_http: bool = False,
                pins: Mapping[str, str] | None = None) -> ModelInfo:
    """Download `model` (from the mirror at `url_base`, else detoxify's
    release), check it against its pin and install it. `pins`: the operator's
    full sha256 pins (MODSYS_MODEL_SHA256), over the release prefixes.
    Raises ModelFetchError / ChecksumMismatch / InvalidCheckpoint."""
    _check_name(model)
    pin = pinned_sha256(model, pins or {})
    with tempfile.TemporaryDirectory(prefix="modsys-fetch-") as tmp:
        if url_base:
            ckpt, hf, source = _from_mirror(url_base, model, pin, Path(tmp), progress, allow_http)
        else:
            ckpt, hf, source = _from_release(model, pin, Path(tmp), progress)
        return install_model(ckpt, hf, Path(model_dir), model, source=source)


# -- first start: fetch in the background -------------------------------------


@dataclass
class _State:
    done: int = 0
    total: int | None = None


_downloads: dict[tuple[str, str], _State] = {}


def progress_note(model_dir: str | Path, model: str) -> str | None:
    """The dashboard's note while this process downloads the model, else None."""
    state = _downloads.get((str(Path(model_dir).resolve()), model))
    if state is None:
        return None
    mb = lambda n: f"{n / 1e6:.1f} MB"  # noqa: E731
    part = f"{100 * state.done // state.total}% ({mb(state.done)} of {mb(state.total)})" if state.total else mb(state.done)
    return (f"The toxicity model {model!r} is downloading: {part}. Flags reported meanwhile are scored "
            f"as soon as it is installed.")


def start_first_start_fetch(model_dir: Path, model: str, url_base: str | None, on_installed: Callable[[], None],
                            bar: Callable[[int, int | None], None] | None = None, *, allow_http: bool = False,
                            pins: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """Fetch `model` in a background thread if it is not installed; returns a
    stop function, or None when nothing needs fetching. Offline it logs why
    and leaves things as they were (flags queue unscored)."""
    try:
        locate(model_dir, model)
        return None
    except ModelError:
        pass
    key = (str(Path(model_dir).resolve()), model)
    stop = threading.Event()
    state = _downloads[key] = _State()

    def progress(done: int, total: int | None) -> None:
        if stop.is_set():
            raise Cancelled("model download stopped at shutdown")
        state.done, state.total = done, total
        if bar:
            bar(done, total)

    def run() -> None:
        try:
            info = fetch_model(model_dir, model, url_base=url_base, progress=progress, allow_http=allow_http,
                               pins=pins)
        except Cancelled:
            return
        except (ModelError, ValueError) as e:
            log.warning("could not fetch the toxicity model on first start; flags stay unscored until it is "
                        "installed (`modsys model fetch`): %s", e)
            return
        finally:
            _downloads.pop(key, None)
        log.info("installed toxicity model %s (sha256 %s); scoring starts", info.name, info.sha256[:12])
        on_installed()

    thread = threading.Thread(target=run, name="modsys-model-fetch", daemon=True)
    thread.start()

    def shutdown() -> None:
        stop.set()
        thread.join(5)

    return shutdown


def terminal_bar(label: str) -> Callable[[int, int | None], None]:
    """A progress bar on stderr (click's), fed with (bytes so far, total)."""
    import sys

    import click

    bars: dict[str, object] = {}
    last = [0]

    def update(done: int, total: int | None) -> None:
        if "bar" not in bars:
            bars["bar"] = click.progressbar(length=total or 0, label=label, file=sys.stderr).__enter__()
        bar = bars["bar"]
        bar.update(done - last[0])
        last[0] = done
        if total is not None and done >= total:
            bar.__exit__(None, None, None)

    return update
