"""OcrEngine: one persistent Tesseract child process per worker, killed when a page hangs."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import unicodedata
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType
from typing import Any

import tesserocr
from PIL import Image

from app.ocr._tessdata import validate_languages
from app.ocr._types import EngineDied, OcrError, PageTimeout

log = logging.getLogger(__name__)

# Starting Python, importing tesserocr and loading models can take a while on a cold disk;
# that must not count against the page limit.
_START_TIMEOUT = 120.0
_STOP_TIMEOUT = 5.0


def _serve(conn: Connection, tessdata: str) -> None:
    """Child process loop: (re)initialise Tesseract on request and recognise pages."""
    api = tesserocr.PyTessBaseAPI(path=tessdata, init=False)
    loaded: str | None = None
    try:
        while True:
            message = conn.recv()
            if message[0] == "stop":
                return
            if message[0] == "init":
                try:
                    # Re-Init only when the languages change: loading models is the expensive part.
                    if message[1] != loaded:
                        api.Init(path=tessdata, lang=message[1])
                        loaded = message[1]
                    conn.send(("ok",))
                except RuntimeError as exc:
                    loaded = None
                    conn.send(("error", f"Tesseract could not load {message[1]!r} from {tessdata}: {exc}"))
                continue
            _, mode, size, dpi = message
            image = Image.frombytes(mode, size, conn.recv_bytes())
            try:
                api.SetImage(image)
                # Tesseract takes pixels handed over without a resolution as 70 DPI; give it the real one.
                api.SetSourceResolution(dpi)
                conn.send(("ok", api.GetUTF8Text(), float(api.MeanTextConf())))
            except RuntimeError as exc:
                conn.send(("error", f"Tesseract failed on this page: {exc}"))
            finally:
                api.Clear()
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the worker is gone (stopped, or killed under a page): nobody to answer
    finally:
        api.End()


def _tesseract_version() -> str:
    return "tesseract " + tesserocr.tesseract_version().split()[1]


class OcrEngine:
    """Tesseract behind a process boundary, reused for every page of every job in a worker."""

    def __init__(self, tessdata: Path, *, page_timeout: float) -> None:
        self.tessdata = tessdata
        self.page_timeout = page_timeout
        self.version = _tesseract_version()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._languages: str | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None before the first page or after a kill."""
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> OcrEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def recognize(self, image: Image.Image, *, dpi: int, languages: str) -> tuple[str, float]:
        """Return the NFC text of image and Tesseract's mean word confidence (0-100)."""
        validate_languages(self.tessdata, languages)
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        with self._lock:
            conn = self._ready(languages)
            try:
                conn.send(("page", image.mode, image.size, int(dpi)))
                conn.send_bytes(image.tobytes())
            except OSError as exc:  # it died since _ready found it alive
                self._kill()
                raise EngineDied("the OCR engine process died before reading this page") from exc
            if not conn.poll(self.page_timeout):
                self._kill()
                raise PageTimeout(f"OCR of the page took longer than {self.page_timeout:g} s")
            reply = self._receive(conn)
        return unicodedata.normalize("NFC", reply[1]), reply[2]

    def close(self) -> None:
        """Stop the child process; a later recognize() starts a fresh one."""
        with self._lock:
            if self._process is None or self._conn is None:
                return
            try:
                self._conn.send(("stop",))
                self._process.join(_STOP_TIMEOUT)
            except (BrokenPipeError, OSError):
                pass
            self._kill()

    def _ready(self, languages: str) -> Connection:
        """Return the pipe to a live child that has languages loaded, starting one if needed."""
        if self._process is None or self._conn is None or not self._process.is_alive():
            self._kill()
            self._start()
        assert self._conn is not None
        if languages != self._languages:
            try:
                self._conn.send(("init", languages))
            except OSError as exc:
                self._kill()
                raise EngineDied("the OCR engine process died while loading its languages") from exc
            if not self._conn.poll(_START_TIMEOUT):
                self._kill()
                raise OcrError(f"Tesseract did not load {languages!r} within {_START_TIMEOUT:g} s")
            self._receive(self._conn)
            self._languages = languages
        return self._conn

    def _start(self) -> None:
        # spawn, not fork: the worker may hold threads and locks that a forked child would inherit.
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        # The wheel's default data path is "./", so the directory is always passed explicitly.
        process = context.Process(target=_serve, args=(child, str(self.tessdata)), name="ocr-engine", daemon=True)
        process.start()
        child.close()
        self._process, self._conn, self._languages = process, parent, None
        log.info("started OCR engine process %s (%s)", process.pid, self.version)

    def _receive(self, conn: Connection) -> Any:
        try:
            reply = conn.recv()
        except (EOFError, OSError) as exc:
            if self._process is not None:
                self._process.join(_STOP_TIMEOUT)
            code = self._process.exitcode if self._process is not None else None
            self._kill()
            raise EngineDied(f"the OCR engine process died while reading this page (exit code {code})") from exc
        if reply[0] == "error":
            raise OcrError(reply[1])
        return reply

    def _kill(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join()
            self._process.close()
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn, self._languages = None, None, None
