from fastapi import APIRouter

from app.api.direct_routes import DirectRoute
from app.api.v1 import auth, documents, files, search, shared, sharing

PREFIX = "/api/v1"
# Each is included in the app itself under PREFIX, not through one /api/v1 router: FastAPI 0.165
# matches every level of nested routers again on the way down, so each level adds a pass over
# the routes to every request.
# Routes are matched one by one in this order (each twice: once to pick the router, once inside
# it), so the busiest come first: GET /auth/me is the first route of auth, then the documents
# router, its hot routes first. No path here is shadowed by an earlier one (POST
# /documents/upload has no POST /documents/{id} twin).
ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    documents.router,
    files.router,
    sharing.router,
    search.router,
    shared.router,
)

# Answered without FastAPI's router on their busiest paths (app.api.direct_routes).
DIRECT_ROUTES: tuple[DirectRoute, ...] = (*auth.DIRECT, *documents.DIRECT)
