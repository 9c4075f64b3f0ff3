from fastapi import APIRouter

from app.api.v1 import auth, documents, files, search, shared, sharing

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(auth.router)
api_router.include_router(files.router)
api_router.include_router(documents.router)
api_router.include_router(sharing.router)
api_router.include_router(shared.router)
api_router.include_router(search.router)
