"""The raw data service app (``uvicorn services.raw.app:app``), owner of ``/raw`` and ``/data``."""

from services.raw.compat import router as compat_router
from services.raw.routes import router
from shared.service import create_service

app = create_service(
    "raw",
    "/raw",
    title="ISLA raw data service",
    description=(
        "INTEGRAL raw (CONS) data: every science window's files from the object store, one by "
        "one or in bulk (tarballs, manifests, checksum files, download scripts), with sizes, "
        "SHA-256 checksums and resumable downloads; ISLA-compatible retrieval at /data."
    ),
    routers=[router, compat_router],
)
