"""Redis down, as the API sees it through a TCP proxy that is taken down and brought back: sign-in
keeps working (the throttle falls back to memory), and an upload made meanwhile is OCR'd within
seconds of Redis' return, by a worker that never lost Redis (so neither its start-up recovery nor
its five-minute lease re-sends the job: the API does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench._proxy import Proxy
from tests.ocr.pages import ENGLISH_LETTER, render_page
from tests.processes import idle_redis_consumers, png_bytes, redis_client, wait_for
from tests.test_worker_processes import Deploy, deploy, finished_ocr, signed_in_api, upload

__all__ = ["deploy"]  # the fixture, used by name

LOGIN = "/api/v1/auth/login"
# Far past the API's re-send backoff (seconds), far short of the reaper's lease (300 s).
WITHIN = 60


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[Proxy]:
    with Proxy.in_front_of(redis_url) as proxy:
        yield proxy


async def test_with_redis_down_sign_in_answers_200_and_401_as_usual(
    deploy: Deploy, redis_url: str, redis_proxy: Proxy, logged: list[str]
) -> None:
    deployment = deploy(QUEUE_URL=redis_proxy.url(redis_url))
    async with signed_in_api(deployment.settings) as (_app, client):
        email = (await client.get("/api/v1/auth/me")).json()["user"]["email"]
        redis_proxy.down()

        wrong = [await client.post(LOGIN, json={"email": email, "password": "not it at all"}) for _ in range(3)]
        right = await client.post(LOGIN, json={"email": email, "password": "correct horse battery"})

    assert [answer.status_code for answer in wrong] == [401, 401, 401]
    assert {answer.json()["code"] for answer in wrong} == {"invalid_credentials"}
    assert right.status_code == 200, right.text
    starts = [line for line in logged if line.startswith("incident.start")]
    assert len(starts) == 1 and starts[0].startswith("incident.start throttle_redis_unavailable")


async def test_an_upload_while_redis_is_down_is_ocrd_soon_after_it_returns(
    deploy: Deploy, redis_url: str, redis_proxy: Proxy
) -> None:
    deployment = deploy()  # the worker reaches Redis directly; the API through the proxy
    worker = deployment.start_worker()
    with redis_client() as redis:
        wait_for(lambda: idle_redis_consumers(redis) >= 1, within=60, what=lambda: f"an idle worker:\n{worker.log()}")
    api_settings = deployment.settings.model_copy(update={"queue_url": redis_proxy.url(redis_url)})
    page, _ = render_page(ENGLISH_LETTER[:3])
    async with signed_in_api(api_settings) as (app, client):
        redis_proxy.down()
        document_id = await upload(client, png_bytes(page), "letter.png", languages="eng")
        assert app.state.queue.unsent == 1
        redis_proxy.up()

        ocr = await finished_ocr(client, document_id, within=WITHIN, deployment=deployment)

    assert ocr["status"] == "done", ocr["error"]
    assert app.state.queue.unsent == 0


async def test_with_redis_down_metrics_answer_503_queue_unavailable(
    deploy: Deploy, redis_url: str, redis_proxy: Proxy
) -> None:
    deployment = deploy(QUEUE_URL=redis_proxy.url(redis_url))
    async with signed_in_api(deployment.settings) as (_app, client):
        assert (await client.get("/metrics")).status_code == 200
        redis_proxy.down()

        answer = await client.get("/metrics")

    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "queue_unavailable"
    assert int(answer.headers["retry-after"]) >= 1
