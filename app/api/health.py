from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.db.session import Database

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 3.0


@router.get("/ping")
async def ping() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


async def _database_status(db: Database) -> dict[str, Any]:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not reachable"; the reason goes to the log only
        log.warning("health: database unreachable: %s", type(exc).__name__)
        return {"status": "unavailable"}
    return {"status": "ok", "backend": db.engine.dialect.name}


@router.get(
    "/health",
    responses={503: {"description": "A component is unavailable"}},
)
async def health(request: Request) -> JSONResponse:
    """Readiness: each component's status; 503 when one is down."""
    components = {"database": await _database_status(request.app.state.db)}
    healthy = all(c["status"] == "ok" for c in components.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "components": components},
        status_code=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE,
    )
