"""The TAP service app (``uvicorn services.tap.app:app``), owner of ``/tap`` and ``/scs``."""

from shared.service import create_service

app = create_service(
    "tap",
    "/tap",
    title="ISLA TAP service",
    description=(
        "IVOA Table Access Protocol over the INTEGRAL archive: ADQL queries on the science "
        "window, observation and source tables, asynchronous jobs and VO metadata."
    ),
)
