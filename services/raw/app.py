"""The raw data service app (``uvicorn services.raw.app:app``), owner of ``/raw`` and ``/data``."""

from services.raw.routes import router
from shared.service import create_service

app = create_service(
    "raw",
    "/raw",
    title="ISLA raw data service",
    description=(
        "INTEGRAL raw (CONS) data: every science window's files from the object store, with "
        "sizes, SHA-256 checksums and resumable downloads."
    ),
    routers=[router],
)
