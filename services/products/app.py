"""The products service app (``uvicorn services.products.app:app``).

Owner of ``/`` (the portal), ``/products``, ``/datalink``, ``/hips`` and
``/servlet/target-resolver``.
"""

from services.products.portal import router as portal_router
from shared.service import create_service

app = create_service(
    "products",
    "/products",
    title="ISLA products service",
    description=(
        "INTEGRAL science products (light curves, spectra, mosaics, maps), DataLink, the target "
        "resolver and the archive's web pages."
    ),
    routers=[portal_router],
)
