"""The raw data service app (``uvicorn services.raw.app:app``), owner of ``/raw`` and ``/data``."""

from services.raw.compat import router as compat_router
from services.raw.routes import router
from shared.body import BodyLimit, Rule
from shared.service import create_service
from shared.settings import limit_settings

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

# Selections are posted as forms, JSON or id lists: bounded before anything reads them.
_SELECTION_LIMIT = Rule("/raw", lambda scope: limit_settings().selection_max_bytes)
app.add_middleware(BodyLimit, rules=[_SELECTION_LIMIT, Rule("/data", _SELECTION_LIMIT.limit)])
