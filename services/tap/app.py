"""The TAP service app (``uvicorn services.tap.app:app``): owner of ``/tap``, ``/scs`` and the
account routes ``/login`` and ``/logout`` (the owners of async jobs log in there)."""

from fastapi import FastAPI

from services.tap.accounts import router as accounts_router
from services.tap.adql import warm_up
from services.tap.routes import router
from services.tap.scs import router as scs_router
from shared.service import create_service


def _warm_up(app: FastAPI) -> None:
    # The ADQL parser's prediction cache starts cold (~0.3 s for the first query).
    warm_up()


app = create_service(
    "tap",
    "/tap",
    title="ISLA TAP service",
    description=(
        "IVOA Table Access Protocol over the INTEGRAL archive: ADQL queries on the science "
        "window, observation and source tables, asynchronous jobs and VO metadata; ObsCore "
        "(ivoa.obscore) and Simple Cone Search (/scs) over the source catalogue."
    ),
    routers=[router, scs_router, accounts_router],
    on_startup=_warm_up,
)
