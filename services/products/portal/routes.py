"""The web portal's pages: search, sources, observations, revolutions, science windows, the
SPI-ACS and IREM time series, the download basket, the query page and help; the landing page's
counts; the built static assets.

Handlers stay thin: SQL is in ``store``, the policy in ``service``; every page is rendered on
the server, so links and forms work without JavaScript, and the scripts under ``/static``
(built from npm by the install step) add the interactive plots, the as-you-type search and the
basket.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.products.common import BadRequest, NotFound, parse_time
from services.products.contributed import service as contributed
from services.products.grbs import service as grbs
from services.products.grbs.store import GrbFilter
from services.products.maps import service as maps
from services.products.portal import service, store
from services.products.publications import service as publications
from shared import __version__
from shared.integral import InvalidIdentifier, parse_obsid, parse_revolution, parse_scw_id
from shared.service import ServiceContext, context
from shared.timeseries.datasets import DATASETS
from shared.vo.errors import UsageFault

router = APIRouter(tags=["portal"])

ROOM = Path(__file__).parent
STATIC = ROOM / "static"
"""The bundle esbuild writes (``make install``); served at ``/static/``."""

templates = Jinja2Templates(directory=ROOM / "templates")
templates.env.filters["size"] = service.human_size
templates.env.filters["urlquote"] = lambda value: quote(str(value), safe="")
templates.env.filters["angle"] = service.angle_text
templates.env.globals["version"] = __version__

SECURITY_HEADERS = {
    # Everything the pages load comes from the archive itself; plots draw on canvases and the
    # product previews are the archive's own PNGs. The one other address scripts may reach is
    # the SAMP Web Profile hub on the person's own machine ("send to TOPCAT", samp.js).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' http://localhost:21012; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

NAV: list[tuple[str, str]] = [("/", "Search"), ("/sky", "Sky")]
"""The main navigation (path, label), in order; :func:`portal_page` with ``nav=`` adds a page.
Query, Basket and Help close the bar (``NAV_END``)."""

NAV_END: list[tuple[str, str]] = [("/query", "Query"), ("/basket", "Basket"), ("/help", "Help")]


def portal_page(path: str, *, nav: str | None = None) -> Callable[[Any], Any]:
    """Route decorator of an HTML page of the portal; ``nav`` names it in the main navigation.

    A page of a new family (GRBs, maps, contributed products, publications, DOIs) is one
    template extending ``family.html`` and one handler under this decorator that reads its
    rows through ``store`` and calls :func:`page`.
    """
    if nav is not None and (path, nav) not in NAV:
        NAV.append((path, nav))
    return router.get(path, response_class=HTMLResponse, include_in_schema=False)


HELP_TOPICS = {
    "integral": "INTEGRAL and its instruments",
    "products": "The products and how to use them",
    "first-steps": "Your first light curve and spectrum",
    "interfaces": "Programmatic access: TAP, astroquery, curl",
    "cite": "How to cite",
}
"""Help pages: slug → title."""


SIMULATED_TTL_S = 60.0
"""How long a process reuses its answer to "does the archive hold simulated data": the banner
is on every page, and on an archive without simulated rows the check scans whole tables."""
_simulated_seen: tuple[float, dict[str, bool]] | None = None


async def _simulated(ctx: ServiceContext) -> dict[str, bool] | None:
    global _simulated_seen
    if ctx.engine is None:
        return None
    now = time.monotonic()
    if _simulated_seen is not None and now - _simulated_seen[0] < SIMULATED_TTL_S:
        return _simulated_seen[1]
    try:
        async with ctx.engine.connect() as conn:
            answer = await store.simulated(conn)
    except Exception:  # the banner never breaks a page
        return None
    _simulated_seen = (now, answer)
    return answer


SKY_CSP = (
    # Aladin Lite compiles its WebAssembly core from the bundle and sets inline styles.
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self' data: blob:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


async def page(
    request: Request,
    ctx: ServiceContext,
    template: str,
    data: dict[str, Any],
    status_code: int = 200,
    csp: str | None = None,
) -> HTMLResponse:
    """A page of the portal: the layout's shared context, and the security headers."""
    body = templates.TemplateResponse(
        request,
        template,
        {
            "base": str(request.base_url).rstrip("/"),
            "simulated": await _simulated(ctx),
            "help_topics": HELP_TOPICS,
            "nav": NAV + NAV_END,
            **data,
        },
        status_code=status_code,
    )
    body.headers.update(SECURITY_HEADERS)
    if csp:
        body.headers["Content-Security-Policy"] = csp
    return body


async def not_found(request: Request, ctx: ServiceContext, what: str) -> HTMLResponse:
    """The portal's 404 page."""
    return await page(request, ctx, "error.html", {"title": "Not found", "message": what}, 404)


# --- landing and search ------------------------------------------------------------------------


async def archive_summary(ctx: ServiceContext) -> dict[str, Any] | None:
    """Counts of what the archive holds, or None when the database is unreachable."""
    if ctx.engine is None:
        return None
    try:
        async with ctx.engine.connect() as conn:
            return await store.summary(conn)
    except Exception:
        return None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def landing(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """The landing page for people: the search box and what the archive holds."""
    summary = await archive_summary(ctx)
    return await page(
        request,
        ctx,
        "landing.html",
        {"summary": summary, "title": "INTEGRAL Science Legacy Archive"},
        status_code=200 if summary is not None else 503,
    )


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
async def search_page(
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    q: str = "",
    list_all: Annotated[
        bool, Query(alias="all", description="list every match, never jump to one")
    ] = False,
) -> Response:
    """Search results; an entry with one obvious answer goes straight to its page."""
    async with service.connection(ctx) as conn:
        result = await service.search(conn, q)
    target = None if list_all else service.only_match(result)
    if target:
        return RedirectResponse(target, status_code=303)
    data = {"result": result, "query": q, "title": f"Search: {q}"}
    return await page(request, ctx, "search.html", data)


@router.get("/api/search", tags=["portal"], summary="Search the archive (the portal's search box)")
async def search_json(
    ctx: Annotated[ServiceContext, Depends(context)],
    q: Annotated[
        str,
        Query(
            max_length=service.MAX_QUERY,
            description=(
                "a source name, alias or id; coordinates (83.63 22.01, 05h34m31.9s +22d00m52s, "
                "l=184.56 b=-5.78); a ScW id, observation id, revolution or ISO date"
            ),
        ),
    ],
) -> dict[str, Any]:
    """Matching sources, observations, revolutions and science windows, with the page to go
    to when one answer is obvious and the closest names when nothing matches."""
    async with service.connection(ctx) as conn:
        result = await service.search(conn, q)
    result["go"] = service.only_match(result)
    return result


@router.get("/api/summary", tags=["portal"], summary="What the archive holds")
async def summary(ctx: Annotated[ServiceContext, Depends(context)]) -> dict[str, Any]:
    """The landing page's counts as JSON."""
    data = await archive_summary(ctx)
    if data is None:
        raise HTTPException(503, "database unavailable", headers={"Retry-After": "30"})
    for key in ("first_time", "last_time"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return data


# --- sources -----------------------------------------------------------------------------------


@router.get("/sources/{source_id}", response_class=HTMLResponse, include_in_schema=False)
async def source_page(
    source_id: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """A source: catalogue facts, light curves, spectra, mosaics, coverage, every product."""
    async with service.connection(ctx) as conn:
        src = await store.source(conn, source_id)
        if src is None:
            return await not_found(request, ctx, f"No source {source_id} in the catalogue.")
        fluxes = await store.source_fluxes(conn, source_id)
        bands = await store.lightcurve_bands(conn, source_id)
        omc = await store.omc_points(conn, source_id)
        products = await store.products_of_source(conn, source_id)
        observations = await store.observations_of_source(conn, src["ra"], src["dec"])
        mosaics = service.product_groups(await store.mosaics_over(conn, src["ra"], src["dec"]))
    choices = service.lightcurve_choices(bands, omc)
    groups = service.product_groups(products)
    products_total = int(products[0]["total"]) if products else 0
    coverage = {
        "observations": int(observations[0]["total"]) if observations else 0,
        "scws": int(observations[0]["total_scws"]) if observations else 0,
        "size": int(observations[0]["total_size"] or 0) if observations else 0,
    }
    detected = [
        name
        for key, name in (
            ("det_isgri", "ISGRI"),
            ("det_picsit", "PICsIT"),
            ("det_jemx", "JEM-X"),
            ("det_spi", "SPI"),
            ("det_omc", "OMC"),
        )
        if src[key]
    ]
    return await page(
        request,
        ctx,
        "source.html",
        {
            "title": src["name"],
            "src": src,
            "hms": service.sexagesimal(src["ra"], src["dec"]),
            "gal": service.galactic(src["ra"], src["dec"]),
            "detected": detected,
            "fluxes": fluxes,
            "bands": bands,
            "choices": choices,
            "groups": groups,
            "observations": observations,
            "mosaics": mosaics.get("mosaic", []),
            "sky": service.sky_links(src["ra"], src["dec"]),
            "coverage": coverage,
            "products_total": products_total,
            "papers": await papers_using(ctx, "source", source_id),
        },
    )


# --- observations, revolutions, science windows ------------------------------------------------


def _plot(scws: list[dict[str, Any]], centre: tuple[float, float]) -> dict[str, Any]:
    radius = 15.0
    pointings = [(s["ra"], s["dec"], s["scw_id"]) for s in scws if s["scw_type"] == "pointing"]
    return service.pointing_plot(pointings, centre, radius)


@router.get("/observations/{obsid}", response_class=HTMLResponse, include_in_schema=False)
async def observation_page(
    obsid: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """An observation: its target, pointings, science windows, files and products."""
    try:
        obsid = parse_obsid(obsid).value
    except InvalidIdentifier as exc:
        return await not_found(request, ctx, str(exc))
    async with service.connection(ctx) as conn:
        obs = await store.observation(conn, obsid)
        if obs is None:
            return await not_found(request, ctx, f"No observation {obsid} in the archive.")
        scws = await store.scws_where(conn, "obsid", obsid)
        totals = await store.scw_totals(conn, "obsid", obsid)
        products = await store.products_where(conn, "obsid", obsid)
        field = await store.sources_in_field(conn, obs["ra"], obs["dec"], 15.0)
    return await page(
        request,
        ctx,
        "observation.html",
        {
            "title": f"Observation {obsid}",
            "obs": obs,
            "scws": scws,
            "groups": service.product_groups(products),
            "products_total": int(products[0]["total"]) if products else 0,
            "field": field,
            "plot": _plot(scws, (obs["ra"], obs["dec"])),
            "totals": totals,
            "sky": service.sky_links(obs["ra"], obs["dec"], 30),
            "papers": await papers_using(ctx, "observation", obsid),
        },
    )


@router.get("/revolutions/{rev}", response_class=HTMLResponse, include_in_schema=False)
async def revolution_page(
    rev: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """A revolution: its observations, science windows and products."""
    try:
        number = parse_revolution(rev)
    except InvalidIdentifier as exc:
        return await not_found(request, ctx, str(exc))
    async with service.connection(ctx) as conn:
        found = await store.revolutions(conn, [number])
        if not found:
            return await not_found(request, ctx, f"No revolution {number:04d} in the archive.")
        scws = await store.scws_where(conn, "revolution", number)
        totals = await store.scw_totals(conn, "revolution", number)
        observations = await store.observations_in_revolution(conn, number)
        products = await store.products_where(conn, "revolution", number)
    return await page(
        request,
        ctx,
        "revolution.html",
        {
            "title": f"Revolution {number:04d}",
            "rev": found[0],
            "number": f"{number:04d}",
            "scws": scws,
            "observations": observations,
            "groups": service.product_groups(products),
            "products_total": int(products[0]["total"]) if products else 0,
            "totals": totals,
        },
    )


@router.get("/scws/{scw_id}", response_class=HTMLResponse, include_in_schema=False)
async def scw_page(
    scw_id: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """A science window: pointing, exposures, its raw files and the sources in its field."""
    try:
        scw_id = parse_scw_id(scw_id).id
    except InvalidIdentifier as exc:
        return await not_found(request, ctx, str(exc))
    async with service.connection(ctx) as conn:
        scw = await store.scw(conn, scw_id)
        if scw is None:
            return await not_found(request, ctx, f"No science window {scw_id} in the archive.")
        files = await store.scw_files(conn, scw_id)
        field = await store.sources_in_field(conn, scw["ra"], scw["dec"], 15.0)
    return await page(
        request,
        ctx,
        "scw.html",
        {
            "title": f"Science window {scw_id}",
            "scw": scw,
            "files": files,
            "field": field,
            "plot": service.pointing_plot(
                [(s["ra"], s["dec"], s["name"]) for s in field], (scw["ra"], scw["dec"]), 15.0
            ),
            "sky": service.sky_links(scw["ra"], scw["dec"], 30),
        },
    )


# --- basket, query, help -----------------------------------------------------------------------


@router.get("/basket", response_class=HTMLResponse, include_in_schema=False)
async def basket_page(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """The download basket (kept in the browser's local storage; needs JavaScript)."""
    return await page(request, ctx, "basket.html", {"title": "Download basket"})


@router.get("/query", response_class=HTMLResponse, include_in_schema=False)
async def query_page(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """An ADQL box on the archive's TAP service."""
    return await page(request, ctx, "query.html", {"title": "Query the archive (ADQL)"})


@router.get("/help", response_class=HTMLResponse, include_in_schema=False)
async def help_index(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """The help pages' index."""
    return await page(request, ctx, "help/index.html", {"title": "Help"})


@router.get("/help/{topic}", response_class=HTMLResponse, include_in_schema=False)
async def help_page(
    topic: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """One help page."""
    if topic not in HELP_TOPICS:
        return await not_found(request, ctx, f"No help page {topic!r}.")
    return await page(request, ctx, f"help/{topic}.html", {"title": HELP_TOPICS[topic]})


@router.get("/sky", response_class=HTMLResponse, include_in_schema=False)
async def sky_page(
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    hips_choice: Annotated[str, Query(alias="hips", max_length=80)] = "",
) -> HTMLResponse:
    """The sky viewer: the catalogue and the observations' fields, on one of the archive's
    all-sky maps (its HiPS, the same list as ``/hips/hipslist``) when it holds any."""
    try:
        catalogue = await maps.CATALOGUE.maps(ctx)
    except Exception:  # the sky page still shows the catalogue without the maps
        catalogue = {}
    hips = [{"map_id": m.map_id, "simulated": m.simulated} for m in catalogue.values()]
    chosen = hips_choice if hips_choice in catalogue else ""
    data = {"title": "The sky", "hips": hips, "chosen": chosen}
    return await page(request, ctx, "sky.html", data, csp=SKY_CSP)


@router.get("/api/sky", tags=["portal"], summary="Sources and observation fields for the sky page")
async def sky_json(ctx: Annotated[ServiceContext, Depends(context)]) -> dict[str, Any]:
    """Sources detected by INTEGRAL (id, name, position, class) and observation targets."""
    async with service.connection(ctx) as conn:
        return await store.sky(conn)


# --- SPI-ACS and IREM time series --------------------------------------------------------------


def _span(extent: dict[str, Any] | None) -> dict[str, Any] | None:
    if not extent or extent["t_first"] is None:
        return None
    return {
        "first": service.utc_iso(float(extent["t_first"]) * 86400.0)[:19],
        "last": service.utc_iso(float(extent["t_last"]) * 86400.0)[:19],
        "segments": int(extent["segments"]),
        "simulated": int(extent["simulated_segments"]),
        "files": int(extent["files"]),
    }


@portal_page("/timeseries", nav="Time series")
async def timeseries_index(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """The SPI-ACS and IREM datasets, their spans, and the real data among them."""
    async with service.connection(ctx) as conn:
        extents = await store.timeseries_extents(conn)
        real = await store.timeseries_stretches(conn, "spiacs_50ms", real_only=True)
    datasets = [{"ds": ds, "span": _span(extents.get(ds.id))} for ds in DATASETS.values()]
    return await page(
        request,
        ctx,
        "timeseries_index.html",
        {
            "title": "SPI-ACS and IREM time series",
            "datasets": datasets,
            "real": service.stretches(real, "spiacs_50ms"),
        },
    )


@portal_page("/timeseries/{dataset}")
async def timeseries_page(
    dataset: str,
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    start: Annotated[str | None, Query(max_length=40)] = None,
    stop: Annotated[str | None, Query(max_length=40)] = None,
    parameter: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """One dataset over the whole mission, zoomable down to single samples (the plot API at
    every zoom), with its stretches labelled real or simulated and downloads of the view."""
    ds = DATASETS.get(dataset)
    if ds is None:
        return await not_found(request, ctx, f"No time-series dataset {dataset!r}.")
    chosen = parameter or ds.plot_parameters[0]
    async with service.connection(ctx) as conn:
        extent = (await store.timeseries_extents(conn)).get(ds.id)
        rows = await store.timeseries_stretches(conn, ds.id)
    try:
        if chosen not in ds.plot_parameters:
            raise UsageFault(f"{ds.id} plots {', '.join(ds.plot_parameters)}, not {chosen!r}")
        a, b = service.timeseries_window(
            start,
            stop,
            extent["t_first"] if extent else None,
            extent["t_last"] if extent else None,
        )
    except UsageFault as exc:
        data = {"title": "Bad request", "message": str(exc)}
        return await page(request, ctx, "error.html", data, 400)
    units = ds.parameter(chosen).units
    whole = service.whole_mission(
        extent["t_first"] if extent else None, extent["t_last"] if extent else None
    )
    return await page(
        request,
        ctx,
        "timeseries.html",
        {
            "title": ds.title,
            "ds": ds,
            "parameter": chosen,
            "units": units,
            "span": _span(extent),
            "window": {
                "start": a,
                "stop": b,
                "start_utc": service.utc_iso(a * 86400.0)[:23],
                "stop_utc": service.utc_iso(b * 86400.0)[:23],
            },
            "whole": whole,
            "links": service.timeseries_links(ds.id, chosen, a, b),
            "stretches": service.stretches(rows, ds.id),
            "stretches_total": int(rows[0]["total"]) if rows else 0,
            "delivered": ds.derived_from or ds.id,
        },
    )


# --- gamma-ray bursts --------------------------------------------------------------------------

GRB_FILTERS = (
    "start",
    "end",
    "ra",
    "dec",
    "radius",
    "t90_min",
    "t90_max",
    "fluence_min",
    "fluence_max",
    "alert_type",
    "simulated",
)
"""The list page's form fields: the parameters of ``/products/grbs``, by the same names."""


def _number(value: str | None, name: str) -> float | None:
    """A form field as a number; an empty field is no bound."""
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name}={value!r} is not a number") from None


def _grb_filter(form: dict[str, str]) -> GrbFilter:
    """The list page's form as the GRB API's filter (the same checks as the API's)."""
    try:
        start = parse_time(form.get("start") or None, "start")
        end = parse_time(form.get("end") or None, "end")
    except HTTPException as exc:
        raise BadRequest(str(exc.detail)) from None
    simulated = {"": None, "true": True, "false": False}.get(form.get("simulated", ""))
    if simulated is None and form.get("simulated"):
        raise BadRequest("simulated must be true, false or empty")
    return GrbFilter(
        start_ijd=start,
        end_ijd=end,
        ra=_number(form.get("ra"), "ra"),
        dec=_number(form.get("dec"), "dec"),
        radius=_number(form.get("radius"), "radius"),
        t90_min=_number(form.get("t90_min"), "t90_min"),
        t90_max=_number(form.get("t90_max"), "t90_max"),
        fluence_min=_number(form.get("fluence_min"), "fluence_min"),
        fluence_max=_number(form.get("fluence_max"), "fluence_max"),
        alert_type=form.get("alert_type") or None,
        simulated=simulated,
    )


async def bad_request(request: Request, ctx: ServiceContext, message: str) -> HTMLResponse:
    """The portal's 400 page."""
    return await page(request, ctx, "error.html", {"title": "Bad request", "message": message}, 400)


@portal_page("/grbs", nav="GRBs")
async def grbs_page(
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """The gamma-ray bursts, filtered by a plain form (the ``/products/grbs`` parameters)."""
    form = {k: request.query_params.get(k, "")[:40] for k in GRB_FILTERS}
    try:
        wanted, paging = grbs.check_filter(_grb_filter(form), 100, offset)
    except BadRequest as exc:
        return await bad_request(request, ctx, str(exc))
    query = {k: v for k, v in form.items() if v}
    async with service.connection(ctx) as conn:
        listed = await conn.run_sync(grbs.list_grbs, wanted, paging, query)
    following = None
    if listed["next"]:
        following = "/grbs?" + urlencode(query | {"offset": str(offset + len(listed["grbs"]))})
    api = "/products/grbs" + ("?" + urlencode(query) if query else "")
    return await page(
        request,
        ctx,
        "grbs.html",
        {
            "title": "Gamma-ray bursts",
            "form": form,
            "listed": listed,
            "following": following,
            "api_url": api,
            "for_page": lambda name: "/grbs/" + quote(name.replace(" ", ""), safe=""),
        },
    )


ACS = "spiacs_50ms"
"""The time-series dataset a burst page plots around its trigger."""


@portal_page("/grbs/{name}")
async def grb_page(
    name: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """One burst: facts with where they come from, position and error circle, the ScWs that
    had it in view, raw-data selections, the SPI-ACS window around the trigger, spectral fits
    and the stored light curves and spectra (``/products/grbs/<name>`` drawn)."""
    try:
        async with service.connection(ctx) as conn:
            grb = await conn.run_sync(grbs.grb_page, name)
            # The pointings that had the burst in the ISGRI field, nearest the trigger first.
            in_view = [s["scw_id"] for s in grb["fields_of_view"].get("ISGRI", {}).get("scws", [])]
            pointings = await store.scw_positions(conn, in_view[:40]) if in_view else []
            acs_extent = (await store.timeseries_extents(conn)).get(ACS)
            radius = grb["position"]["error_circle"]["radius_arcmin"]
            error_deg = None if radius is None else float(radius) / 60.0
            close = None
            if error_deg is not None:
                # The close-up spans 1.5 error radii each way: its corners are within 2.2.
                near = await store.sources_near(conn, grb["ra"], grb["dec"], error_deg * 2.2)
                close = service.error_circle_plot(
                    (grb["ra"], grb["dec"]),
                    error_deg,
                    [(s["ra"], s["dec"], s["name"]) for s in near],
                )
                close["inside"] = [s for s in near if s["distance"] <= error_deg]
    except NotFound as exc:
        return await not_found(request, ctx, str(exc))
    except BadRequest as exc:
        return await bad_request(request, ctx, str(exc))
    ra, dec = grb["ra"], grb["dec"]
    window = grb["spiacs"]["window"]
    marks = [(p["ra"], p["dec"], f"pointing of ScW {p['scw_id']}") for p in pointings]
    # The SPI-ACS plot of the burst is the time-series explorer's, opened on T0 +- 300 s.
    half = grb["spiacs"]["window"]["half_width_s"] / 86400.0
    a, b = grb["trigger"]["ijd"] - half, grb["trigger"]["ijd"] + half
    rate = DATASETS[ACS].plot_parameters[0]
    acs = {
        "start": a,
        "stop": b,
        "start_utc": service.utc_iso(a * 86400.0)[:23],
        "stop_utc": service.utc_iso(b * 86400.0)[:23],
        "whole": service.whole_mission(
            acs_extent["t_first"] if acs_extent else None,
            acs_extent["t_last"] if acs_extent else None,
        ),
        "parameter": rate,
        "units": DATASETS[ACS].parameter(rate).units,
        **service.timeseries_links(ACS, rate, a, b),
    }
    return await page(
        request,
        ctx,
        "grb.html",
        {
            "title": grb["name"],
            "grb": grb,
            "hms": service.sexagesimal(ra, dec),
            "gal": service.galactic(ra, dec),
            "sky": service.sky_links(ra, dec, 5),
            "plot": service.pointing_plot(marks, (ra, dec), 15.0, error_deg),
            "close": close,
            "acs": acs,
            "explorer": "/timeseries/spiacs_50ms?"
            + urlencode({"start": window["start"], "stop": window["stop"]}),
            "api_url": "/products/grbs/" + quote(grb["name"].replace(" ", ""), safe=""),
        },
    )


# --- all-sky maps ------------------------------------------------------------------------------


@portal_page("/maps", nav="Maps")
async def maps_page(
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    map_id: Annotated[str, Query(alias="map", max_length=80)] = "",
    ra: Annotated[str, Query(max_length=40)] = "",
    dec: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """The all-sky maps with their HiPS, sky-viewer links, and a map's value at a position
    (looked up on the server, so the form works without JavaScript)."""
    catalogue = await maps.CATALOGUE.maps(ctx)
    base = str(request.base_url).rstrip("/")
    described = [info.describe(base) for info in catalogue.values()]
    lookup: dict[str, Any] | None = None
    if map_id or ra or dec:
        info = catalogue.get(map_id)
        if info is None:
            return await not_found(request, ctx, f"No all-sky map {map_id!r}.")
        try:
            position = maps.parse_position(ra, dec)
        except UsageFault as exc:
            return await bad_request(request, ctx, str(exc))
        value = (await maps.values(ctx, info, [position]))[0]
        lookup = {"map": info.describe(base), **value}
    return await page(
        request,
        ctx,
        "maps.html",
        {
            "title": "All-sky maps",
            "maps": described,
            "form": {"map": map_id, "ra": ra, "dec": dec},
            "lookup": lookup,
            "aladin": {
                m["map_id"]: "https://aladin.cds.unistra.fr/AladinLite/?"
                + urlencode({"survey": m["hips_url"], "target": "266.4168 -29.0078", "fov": "60"})
                for m in described
            },
        },
    )


# --- contributed collections ---------------------------------------------------------------------


@portal_page("/contributed", nav="Contributed")
async def contributed_index(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """The published collections contributed by teams and the community (newest versions)."""
    async with service.connection(ctx) as conn:
        listed = await conn.run_sync(contributed.collection_list)
    data = {"title": "Contributed collections", "listed": listed}
    return await page(request, ctx, "contributed_index.html", data)


@portal_page("/contributed/{collection}")
async def contributed_page(
    collection: str,
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> HTMLResponse:
    """One collection: who made it, its licence, its files with download links, its
    documentation and software, and its earlier versions."""
    try:
        async with service.connection(ctx) as conn:
            found = await conn.run_sync(contributed.collection_page, collection, version)
    except NotFound as exc:
        return await not_found(request, ctx, str(exc))
    data = {"title": found["title"], "c": found}
    return await page(request, ctx, "contributed.html", data)


# --- publications ---------------------------------------------------------------------------------


@portal_page("/publications", nav="Papers")
async def publications_index(
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
) -> HTMLResponse:
    """The papers of the literature survey, newest first, each linked to the data it used."""
    async with service.connection(ctx) as conn:
        # Links relative to the portal (base ""), so they stay on the site the page came from.
        listed = await conn.run_sync(publications.listing, "", year, None, 1000, 0)
    data = {"title": "Papers that used INTEGRAL data", "listed": listed, "year": year}
    return await page(request, ctx, "publications.html", data)


@portal_page("/publications/{bibcode}")
async def publication_page(
    bibcode: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """One paper: the observations, science windows, revolutions, sources and products it
    used, with their pages, raw-data links and DOI landing pages."""
    try:
        async with service.connection(ctx) as conn:
            paper = await conn.run_sync(publications.paper_page, bibcode, "")
    except NotFound as exc:
        return await not_found(request, ctx, str(exc))
    return await page(request, ctx, "publication.html", {"title": paper["title"], "p": paper})


async def papers_using(ctx: ServiceContext, what: str, key: str) -> list[dict[str, Any]] | None:
    """The papers that used a source's or an observation's data (None: the survey is not
    reachable, and the page goes on without the list)."""
    try:
        async with service.connection(ctx) as conn:
            found = await conn.run_sync(publications.papers_of, what, key, "")
    except Exception:  # a page never breaks for want of its papers
        return None
    return list(found["papers"])


# --- static assets -----------------------------------------------------------------------------


@router.api_route(
    "/static/{path:path}", methods=["GET", "HEAD"], include_in_schema=False, response_model=None
)
async def static_file(path: str) -> FileResponse:
    """A built script, style sheet or image of the portal (immutable per build)."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise HTTPException(404, f"no static file {path}")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(
        target,
        media_type=media,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
