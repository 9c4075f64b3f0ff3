"""The local backend: a directory on this machine, via obstore's LocalStore."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from obstore.store import LocalStore

from app.storage._base import StorageUnavailable
from app.storage._obstore import ObstoreStorage


def root_from_url(url: str) -> Path:
    """Return the absolute directory named by a `file:///abs/path` URL."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise ValueError(f"STORAGE_URL {url!r} must look like file:///absolute/path")
    root = Path(url2pathname(unquote(parts.path)))
    if not root.is_absolute():
        raise ValueError(f"STORAGE_URL {url!r} must name an absolute path")
    return root


class LocalStorage(ObstoreStorage):
    """Objects as files under one root directory.

    obstore writes each object to a `<key>#<n>` staging file and renames it into place on
    completion, so a crash mid-write never leaves a partial file at the key.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(LocalStore(root, mkdir=True), kind="local")
        self.root = root

    async def ping(self) -> None:
        # obstore lists a vanished root as empty and recreates it on the next write; an
        # unmounted volume must fail the health check instead of silently starting afresh.
        if not await asyncio.to_thread(self.root.is_dir):
            raise StorageUnavailable(f"local storage root {self.root} is missing")
        await super().ping()


def local_storage(url: str) -> LocalStorage:
    """Build the local backend for a `file://` STORAGE_URL, creating the directory."""
    return LocalStorage(root_from_url(url))
