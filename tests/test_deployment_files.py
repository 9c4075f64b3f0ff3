"""docker-compose.yml and the Dockerfile as an operator relies on them (Docker itself does not run
on the machines this is developed on: these read the files)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from app.db.migrate import PROJECT_ROOT

APP_SERVICES = ("migrate", "api", "worker")


def compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]


def test_the_app_image_is_built_once_and_reused() -> None:
    services = compose()

    images = {services[name]["image"] for name in APP_SERVICES}
    builders = [name for name, service in services.items() if "build" in service]
    assert images == {"lekhamudra:local"}
    assert builders == ["migrate"]
    for name in ("api", "worker"):
        assert services[name]["pull_policy"] == "never"
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_api_and_worker_have_healthchecks() -> None:
    services = compose()

    assert "/health" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "lekhamudra", "check"]


def test_every_image_is_pinned() -> None:
    for name, service in compose().items():
        if name in APP_SERVICES:
            continue
        image = service["image"]
        _repository, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
    for line in (PROJECT_ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            assert re.match(r"FROM python:3\.\d+\.\d+-slim-\w+", line), line
