"""The products service app (``uvicorn services.products.app:app``).

Owner of ``/`` (the portal), ``/products``, ``/datalink``, ``/doi``, ``/hips``, ``/moc`` and
``/servlet/target-resolver``.
"""

import gc

from fastapi import FastAPI

from services.products.compat.routes import router as compat_router
from services.products.contributed.routes import router as contributed_router
from services.products.datalink.routes import router as datalink_router
from services.products.doi.routes import router as doi_router
from services.products.files.routes import router as files_router
from services.products.grbs.routes import router as grbs_router
from services.products.lightcurves.routes import router as lightcurves_router
from services.products.maps.routes import router as maps_router
from services.products.moc.routes import router as moc_router
from services.products.mosaics.routes import router as mosaics_router
from services.products.portal.routes import router as portal_router
from services.products.publications.routes import router as publications_router
from services.products.resolver import router as resolver_router
from services.products.sources.routes import router as sources_router
from services.products.spectra.routes import router as spectra_router
from services.products.timeseries.routes import router as timeseries_router
from services.products.upperlimits.routes import router as upperlimits_router
from shared.service import create_service


def _freeze_heap(_app: FastAPI) -> None:
    # Everything alive once the service has started (modules, the app) stays alive: moving it
    # out of the collector's generations keeps collections short while a request builds a
    # large answer (a light curve of tens of thousands of rows), instead of rescanning it all.
    gc.freeze()


app = create_service(
    "products",
    "/products",
    title="ISLA products service",
    description=(
        "INTEGRAL science products (light curves, spectra, mosaics, maps, gamma-ray bursts), "
        "DataLink, the target resolver and the archive's web pages."
    ),
    routers=[
        portal_router,
        compat_router,
        resolver_router,
        datalink_router,
        lightcurves_router,
        spectra_router,
        mosaics_router,
        maps_router,
        sources_router,
        files_router,
        timeseries_router,
        contributed_router,
        grbs_router,
        publications_router,
        doi_router,
        upperlimits_router,
        moc_router,
    ],
    on_startup=_freeze_heap,
)
