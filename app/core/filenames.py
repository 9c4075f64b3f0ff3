"""Client file names, kept as display metadata only (never as a storage key or a path)."""

from __future__ import annotations

import unicodedata
from pathlib import PurePath
from urllib.parse import quote

MAX_FILENAME_CHARS = 255
# Bidi embeddings/overrides/isolates can make "evil\u202egpj.exe" display as "evilexe.jpg".
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def sanitize_filename(raw: str, *, default: str = "upload") -> str:
    """The last path component, NFC, without control, format-bidi or NUL characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if ch not in _BIDI_CONTROLS and unicodedata.category(ch) not in ("Cc", "Cs", "Co"))
    name = name.strip().strip(".").strip()
    return name[:MAX_FILENAME_CHARS] or default


def filename_stem(name: str) -> str:
    stem = PurePath(name).stem
    return stem or name


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback plus `filename*=UTF-8''…` so Nepali names survive."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
