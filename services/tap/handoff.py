"""ISLA's ``REQUEST=`` calls on ``tap/sync``, handed to the products service over HTTP.

ESA's ISLA answers a few non-TAP requests on its TAP endpoint (``tap/sync?REQUEST=timelines``,
``sources``, ``spectra``, ``mosaics``, ``long_timeseries``, ``short_timeseries``), and
astroquery's ``astroquery.esa.integral`` client sends them there. They are product look-ups,
so the TAP service does not answer them itself: it forwards them to the products service
(``/products/isla/servlet``) and returns that answer unchanged, status, type and body, because
the client matches the error texts in it. Every other ``REQUEST`` value stays TAP's.
"""

from __future__ import annotations

import httpx
from fastapi import Request
from fastapi.responses import Response

from shared.service import context
from shared.settings import peer_settings
from shared.vo.errors import TransientFault
from shared.vo.params import IvoaParams

ISLA_REQUESTS = frozenset(
    {"timelines", "sources", "spectra", "mosaics", "long_timeseries", "short_timeseries"}
)
"""The ``REQUEST`` values (any case) that belong to the products service."""

SERVLET_PATH = "/products/isla/servlet"
"""Where the products service answers them."""

PASSED_HEADERS = ("content-type", "content-disposition", "cache-control")
"""Headers of the products answer that reach the client (hop-by-hop ones never do)."""


def is_isla_request(params: IvoaParams) -> bool:
    """Whether a tap/sync request is one of ISLA's product calls rather than a query."""
    value = params.get_upper("REQUEST")
    return value is not None and value.lower() in ISLA_REQUESTS


async def forward(request: Request, params: IvoaParams) -> Response:
    """Ask the products service and return its answer as it came; 503 when it is down."""
    url = f"{peer_settings().peer('products')}{SERVLET_PATH}"
    http = context(request).http
    try:
        upstream = await http.get(url, params=dict(params))
    except httpx.HTTPError as exc:
        raise TransientFault(
            f"the products service does not answer ({type(exc).__name__}); try again later"
        ) from None
    headers = {k: v for k, v in upstream.headers.items() if k.lower() in PASSED_HEADERS}
    return Response(upstream.content, status_code=upstream.status_code, headers=headers)
