"""astroquery's ESA INTEGRAL client, unmodified, on the served archive: ISLA's REQUEST= calls,
product downloads, the target resolver and the ila views, with the client's own error texts."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits

from deploy.ports import free_port
from deploy.serve import service_process
from tests.conftest import Archive

pytestmark = pytest.mark.integration

CRAB_ID = "J053432.0+220052"
SMC_X1 = "J011705.1-732636"
SMC_EPOCH = "0745_06340000001"
GC_SOURCE = "J174537.0-290107"  # 1A 1742-289
MOSAIC_EPOCH = "0727_88601650001"
EPOCH_FORM = re.compile(r"^\d{4}_\d{11}$")


def _reference_data() -> Path:
    import astroquery.esa.integral as integral

    return Path(integral.__file__).parent / "tests" / "data"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _reference_members(archive_name: str) -> dict[str, str]:
    """Names and SHA-256 of the files in one of ESA's real ISLA packages."""
    path = _reference_data() / archive_name
    with tarfile.open(path) as tar:
        return {
            m.name: _sha(tar.extractfile(m).read())  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _close(files: list[dict[str, Any]]) -> None:
    for item in files:
        item["fits"].close()


# --- sources, resolver, metadata ------------------------------------------------------------------


def test_get_sources_by_name_alias_and_id(isla: Any) -> None:
    by_name = isla.get_sources("crab")
    assert len(by_name) == 1 and by_name[0]["name"] == "Crab"
    # No catalogue name contains these: the client falls back to the target resolver and a
    # cone search around the position it returns.
    by_alias = isla.get_sources("Crab Nebula")
    assert by_alias["name"] == "Crab" and by_alias["source_id"] == CRAB_ID
    by_id = isla.get_sources(SMC_X1)
    assert by_id["name"] == "SMC X-1"


def test_get_sources_unknown_target_uses_the_clients_message(isla: Any) -> None:
    with pytest.raises(ValueError, match="Target star cannot be resolved for ISLA"):
        isla.get_sources("star")


def test_target_resolver_answers_from_the_catalogues(client: httpx.Client) -> None:
    url = "/servlet/target-resolver"
    got = client.get(url, params={"TARGET_NAME": "tau a", "RESOLVER_TYPE": "ALL", "FORMAT": "json"})
    assert got.status_code == 200
    first = got.json()["objects"][0]
    assert first["sourceId"] == CRAB_ID and first["matchedBy"] == "alias"
    assert first["raDegrees"] == pytest.approx(83.633, abs=0.01)
    unknown = client.get(url, params={"TARGET_NAME": "star", "RESOLVER_TYPE": "SIMBAD"}).json()
    assert "objects" not in unknown and "star" in unknown["errorMessage"]
    missing = client.get(url, params={"RESOLVER_TYPE": "ALL"})
    assert missing.status_code == 400
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get(url, params={"TARGET_NAME": "Crab", "RESOLVER_TYPE": "X"}).status_code == 400


def test_get_source_metadata(isla: Any) -> None:
    sections = isla.get_source_metadata("crab")
    assert sections[0]["name"] == "Integral"
    rows = {r["param"]: r["value"] for r in sections[0]["metadata"]["rows"]}
    assert sections[0]["metadata"]["rows"][0]["value"] == "Crab"
    assert rows["Id"] == CRAB_ID and rows["Isgri flag"] == "detected"
    aliases = next(s for s in sections if s["name"] == "Aliases")
    assert "Crab Nebula" in {r["value"] for r in aliases["metadata"]["rows"]}
    with pytest.raises(ValueError, match="Target star cannot be resolved for ISLA"):
        isla.get_source_metadata("star")


# --- timelines and epochs -------------------------------------------------------------------------


def test_get_timeline_counts_the_pointings_around_the_crab(isla: Any, archive: Archive) -> None:
    timeline = isla.get_timeline(SkyCoord(83.6332, 22.0145, unit="deg"), radius=14.0)
    expected = archive.rows(
        "SELECT count(*), sum(coalesce(isgri_exposure, 0)) FROM isla.science_windows "
        "WHERE scw_type = 'pointing' AND pos <@ scircle(spoint(radians(83.6332), "
        "radians(22.0145)), radians(14.0))",
    )[0]
    assert expected[0] > 0
    assert timeline["total_items"] == len(timeline["timeline"]) == expected[0]
    assert timeline["totEffExpo"] == pytest.approx(expected[1])
    assert 0 < timeline["fraFC"] <= 1
    table = timeline["timeline"]
    assert all(0 <= a <= 14.0 for a in table["scwOffAxis"])
    assert all(table["scwTimes"][i] <= table["scwTimes"][i + 1] for i in range(len(table) - 1))


def test_get_timeline_without_pointings_uses_the_clients_message(isla: Any) -> None:
    with pytest.raises(ValueError, match="No timeline is available for the current coordinates"):
        isla.get_timeline(SkyCoord(0, 0, unit="deg"), radius=0.8)


def test_get_epochs_of_smc_x1_are_real(isla: Any, archive: Archive) -> None:
    epochs = [str(e) for e in isla.get_epochs(target_name=SMC_X1, band="28_40")["epoch"]]
    assert SMC_EPOCH in epochs
    assert all(EPOCH_FORM.match(e) for e in epochs)
    # Every epoch is a revolution/observation in which SMC X-1 lay in ISGRI's field, or has a
    # product of that source.
    for epoch in epochs:
        rev, obsid = int(epoch[:4]), epoch[5:]
        covered = archive.rows(
            "SELECT count(*) FROM isla.science_windows w, isla.sources s "
            "WHERE s.source_id = :sid AND w.obsid = :obsid AND w.revolution = :rev "
            "AND w.fov_isgri @> s.pos AND w.isgri_exposure > 0",
            sid=SMC_X1,
            obsid=obsid,
            rev=rev,
        )[0][0]
        products = archive.rows(
            "SELECT count(*) FROM isla.products WHERE source_id = :sid AND epoch = :epoch",
            sid=SMC_X1,
            epoch=epoch,
        )[0][0]
        assert covered + products > 0, epoch
    assert len(isla.get_epochs(target_name="star", band="28_40")) == 0
    with pytest.raises(TypeError, match=r"Please use only instrument or band as parameter\."):
        isla.get_epochs(target_name=SMC_X1, instrument="jem-x", band="28_40")


# --- product downloads ----------------------------------------------------------------------------


def test_get_long_term_timeseries_of_1a_1742(isla: Any, tmp_path: Path) -> None:
    files = isla.get_long_term_timeseries(GC_SOURCE, instrument="jem-x", path=str(tmp_path))
    try:
        names = sorted(f["filename"] for f in files)
        assert names == [
            "1A_1742-289_JEMX1_allmission_timeseries.fits",
            "1A_1742-289_JEMX2_allmission_timeseries.fits",
        ]
        first = files[0]["fits"]["TIMESERIES"]
        assert {"TIME", "RATE", "ERROR"} <= set(first.columns.names)
        assert len(first.data) > 100
    finally:
        _close(files)
    with zipfile.ZipFile(next(tmp_path.glob("*.zip"))) as package:
        assert sorted(package.namelist()) == names


def test_get_long_term_timeseries_unknown_target_returns_none(
    isla: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert isla.get_long_term_timeseries("star", instrument="jem-x") is None
    assert "No long term timeseries have been found with these inputs" in caplog.text
    with pytest.raises(ValueError, match=r"This is not a valid value for instrument or band\."):
        isla.get_long_term_timeseries(GC_SOURCE, instrument="test")


def test_get_short_term_timeseries_of_smc_x1(isla: Any, tmp_path: Path) -> None:
    files = isla.get_short_term_timeseries(SMC_X1, SMC_EPOCH, band="28_40", path=str(tmp_path))
    try:
        assert len(files) >= 1
        hdus = files[0]["fits"]
        table = next(h for h in hdus[1:] if hasattr(h, "columns") and "RATE" in h.columns.names)
        assert len(table.data) > 0
        assert SMC_EPOCH in files[0]["filename"]
    finally:
        _close(files)
    with pytest.raises(ValueError, match="Epoch 123456 is not available for this target"):
        isla.get_short_term_timeseries(SMC_X1, "123456", band="28_40")
    with pytest.raises(ValueError, match=f"Epoch {SMC_EPOCH} is not available for this target"):
        isla.get_short_term_timeseries("star", SMC_EPOCH, band="28_40")


def test_get_spectra_serves_the_real_isla_files(isla: Any, tmp_path: Path) -> None:
    files = isla.get_spectra(SMC_X1, SMC_EPOCH, instrument="ibis", path=str(tmp_path))
    try:
        got = {f["filename"]: _sha(Path(f["path"]).read_bytes()) for f in files}
        spectrum = next(f["fits"] for f in files if f["filename"].endswith("_spe.fits"))
        assert spectrum[1].header["HDUCLAS1"] == "SPECTRUM"
    finally:
        _close(files)
    assert got == _reference_members("tar_file.tar")
    with pytest.raises(ValueError, match="Epoch 123456 is not available for this target"):
        isla.get_spectra(SMC_X1, "123456", instrument="ibis")
    with pytest.raises(ValueError, match=r"This is not a valid value for instrument or band\."):
        isla.get_spectra(SMC_X1, SMC_EPOCH, instrument="camera")


def test_get_mosaic_serves_the_real_isla_images(isla: Any, tmp_path: Path) -> None:
    files = isla.get_mosaic(MOSAIC_EPOCH, instrument="ibis", path=str(tmp_path))
    try:
        got = {f["filename"]: _sha(Path(f["path"]).read_bytes()) for f in files}
        assert all(any(h.header.get("CTYPE1") == "RA---TAN" for h in f["fits"]) for f in files)
    finally:
        _close(files)
    reference = {
        k: v for k, v in _reference_members("tar_gz_file.gz").items() if k.endswith(".fits.gz")
    }
    assert got == reference
    with pytest.raises(ValueError, match="Epoch 123456 is not available for this target"):
        isla.get_mosaic("123456", instrument="ibis")


# --- the HTTP contracts behind the client ---------------------------------------------------------


def test_servlet_answers_through_tap_sync(client: httpx.Client) -> None:
    spectra = client.get(
        "/tap/sync",
        params={"REQUEST": "spectra", "source": "SMC X-1", "instrument_oid": 1, "epoch": SMC_EPOCH},
    )
    assert spectra.status_code == 200
    oids = [s["spectraOid"] for s in spectra.json()]
    assert f"spectrum/ISGRI/{SMC_EPOCH}/{SMC_X1}" in oids
    real = spectra.json()[oids.index(f"spectrum/ISGRI/{SMC_EPOCH}/{SMC_X1}")]
    # Channel energies from the RMF's EBOUNDS, rates from the PHA file, as ESA's servlet.
    assert len(real["energy"]) == len(real["rate"]) == len(real["rateError"]) > 100
    assert all(a < b for a, b in zip(real["energy"], real["energy"][1:], strict=False))
    assert 15 < real["energy"][0] < 30
    mosaics = client.post(
        "/tap/sync/", data={"REQUEST": "mosaics", "band_oid": "1", "epoch": MOSAIC_EPOCH}
    ).json()
    assert len(mosaics) == 1 and len(mosaics[0]["files"]) == 2
    series = client.get(
        "/tap/sync",
        params={"REQUEST": "long_timeseries", "source": GC_SOURCE, "instrument_oid": 2},
    ).json()
    assert series["sourceId"] == GC_SOURCE and series["totalItems"] > 100
    assert len(series["time"]) == len(series["rates"]) == len(series["detectors"]) == 2
    assert series["time"][0][0].startswith("20")


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"REQUEST": "timelines", "dec": "22"}, 400, "ra is required"),
        ({"REQUEST": "timelines", "ra": "x", "dec": "22"}, 400, "must be a number"),
        ({"REQUEST": "timelines", "ra": "1", "dec": "95"}, 400, "within -90..90"),
        (
            {"REQUEST": "spectra", "source": "Crab", "instrument_oid": "9", "epoch": SMC_EPOCH},
            400,
            "valid values",
        ),
        (
            {"REQUEST": "spectra", "source": "Crab", "instrument_oid": "1", "epoch": "0745"},
            400,
            "RRRR_OOOOOOOOOOO",
        ),
        ({"REQUEST": "sources", "SOURCE": "star"}, 404, "Source not found in the database"),
    ],
)
def test_servlet_refuses_bad_input_with_problems(
    client: httpx.Client, params: dict[str, str], status: int, words: str
) -> None:
    response = client.get("/tap/sync", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert words in response.json()["detail"]


def test_unknown_request_stays_a_tap_error(client: httpx.Client) -> None:
    response = client.get("/tap/sync", params={"REQUEST": "bogus", "LANG": "ADQL"})
    assert response.status_code == 400
    assert "QUERY_STATUS" in response.text and "REQUEST=bogus" in response.text


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"RETRIEVAL_TYPE": "spectras", "spectra_oid": "spectrum/none"}, 404),
        ({"RETRIEVAL_TYPE": "mosaics"}, 400),
        ({"RETRIEVAL_TYPE": "long_timeseries", "source": "Crab", "instrument_oid": "x"}, 400),
        (
            {
                "RETRIEVAL_TYPE": "short_timeseries",
                "source": "star",
                "band_oid": "1",
                "epoch": SMC_EPOCH,
            },
            404,
        ),
        ({"RETRIEVAL_TYPE": "images"}, 400),
    ],
)
def test_data_refuses_bad_input(client: httpx.Client, params: dict[str, str], status: int) -> None:
    response = client.get("/data", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_spectrum_tar_has_an_exact_length_and_isla_layout(client: httpx.Client) -> None:
    response = client.get(
        "/data",
        params={
            "RETRIEVAL_TYPE": "spectras",
            "spectra_oid": f"spectrum/ISGRI/{SMC_EPOCH}/{SMC_X1}",
        },
    )
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert "SMC_X-1_ISGRI_0745_06340000001_spectrum.tar" in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        names = tar.getnames()
    assert names == list(_reference_members("tar_file.tar"))  # rmf, arf, spe as ISLA orders


def test_products_down_is_a_dali_503(archive: Archive) -> None:
    env = {**os.environ, "ISLA_PRODUCTS_URL": f"http://127.0.0.1:{free_port()}"}
    with service_process("services.tap.app:app", env) as (_, base):
        response = httpx.get(
            f"{base}/tap/sync", params={"REQUEST": "timelines", "ra": 1, "dec": 2}, timeout=30
        )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    assert 'value="ERROR"' in response.text and "products service" in response.text


def test_short_term_timeseries_without_a_file_is_built_from_the_points(
    isla: Any, archive: Archive, tmp_path: Path
) -> None:
    epochs = {str(e) for e in isla.get_epochs(target_name=SMC_X1, band="28_40")["epoch"]}
    stored = {
        r[0]
        for r in archive.rows(
            "SELECT epoch FROM isla.products WHERE kind = 'short_timeseries' AND source_id = :s",
            s=SMC_X1,
        )
    }
    built = sorted(epochs - stored)
    assert built, "SMC X-1 has epochs without a stored time series"
    epoch = built[0]
    files = isla.get_short_term_timeseries(SMC_X1, epoch, band="28_40", path=str(tmp_path))
    try:
        assert len(files) == 1 and files[0]["filename"].startswith(f"SMC_X-1_ISGRI_{epoch}")
        table = next(h for h in files[0]["fits"] if isinstance(h, fits.BinTableHDU))
        times = table.data["TIME"]
        assert len(times) > 0
    finally:
        _close(files)
    first, last = archive.rows(
        "SELECT min(start_ijd), max(end_ijd) FROM isla.science_windows "
        "WHERE obsid = :o AND revolution = :r",
        o=epoch[5:],
        r=int(epoch[:4]),
    )[0]
    assert first - 0.01 <= float(min(times)) and float(max(times)) <= last + 0.01
