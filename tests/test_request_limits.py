"""Bounded HTTP input: a multipart boundary over 256 bytes is a 400."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.test_uploads import UPLOAD, assert_nothing_left, png_bytes


@pytest.mark.parametrize("path", [UPLOAD, "/api/v1/auth/signup", "/api/v1/auth/login"])
async def test_a_multipart_boundary_over_256_bytes_is_400_and_leaves_nothing(
    app: FastAPI, client: httpx.AsyncClient, alice: dict, path: str
) -> None:
    """python-multipart refuses such a boundary with an error of its own, which was a 500."""
    boundary = "b" * 257
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'.encode()
    body += png_bytes() + f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        path, content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_request"
    await assert_nothing_left(app)
