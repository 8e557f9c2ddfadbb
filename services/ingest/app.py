"""The ingest service app (``uvicorn services.ingest.app:app``), owner of ``/ingest``."""

from shared.service import create_service

app = create_service(
    "ingest",
    "/ingest",
    title="ISLA ingest service",
    description=(
        "Authenticated write API through which teams deliver catalogues, products and the "
        "raw-data index to the archive."
    ),
)
