"""Object keys: server-generated, and anything path-like or odd is refused."""

from __future__ import annotations

import re

import pytest

from app.storage import Storage, new_object_key, validate_key

BAD_KEYS = ["", "/etc/passwd", "../secret", "objects/../../x", "a..b", "a\\b", "a\x00b", "a\nb", "a\x7fb", "a//b", "a/"]


def test_new_object_keys_are_unique_fanned_out_and_valid() -> None:
    keys = {new_object_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert re.fullmatch(r"objects/([0-9a-f]{2})/([0-9a-f]{2})/\1\2[0-9a-f]{28}", key)
        assert validate_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_key_is_rejected_by_every_operation(local_storage: Storage, key: str) -> None:
    good = new_object_key()
    with pytest.raises(ValueError):
        async with local_storage.writer(key):
            pass
    with pytest.raises(ValueError):
        await local_storage.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        local_storage.read(key)
    for call in (local_storage.size, local_storage.exists, local_storage.delete):
        with pytest.raises(ValueError):
            await call(key)
    with pytest.raises(ValueError):
        await local_storage.copy(good, key)
    with pytest.raises(ValueError):
        await local_storage.copy(key, good)
