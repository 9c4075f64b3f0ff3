"""storage_from_settings: STORAGE_URL picks the backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.storage import storage_from_settings
from tests.storage.support import make_settings, s3_settings


def test_default_is_local_under_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_URL", raising=False)
    storage = storage_from_settings(make_settings(tmp_path))
    assert storage.kind == "local"
    assert (tmp_path / "files").is_dir()


def test_file_url_names_the_root(tmp_path: Path) -> None:
    root = tmp_path / "elsewhere"
    storage = storage_from_settings(make_settings(tmp_path, storage_url=root.as_uri()))
    assert storage.kind == "local"
    assert root.is_dir()


def test_s3_url_picks_s3(tmp_path: Path) -> None:
    assert storage_from_settings(s3_settings(tmp_path, "http://127.0.0.1:9000")).kind == "s3"


@pytest.mark.parametrize("url", ["s3:///no-bucket", "file://host/path", "file:relative/path"])
def test_malformed_storage_url_is_rejected(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="STORAGE_URL"):
        storage_from_settings(make_settings(tmp_path, storage_url=url))
