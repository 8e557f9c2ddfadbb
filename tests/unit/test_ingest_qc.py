"""Product QC rules on the real ISLA files and on files built to break one rule each."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import numpy as np
from astropy.io import fits

from services.ingest import qc
from services.ingest.products import REFERENCE_ARCHIVES, reference_data_dir

LIMIT = 64 * 1024 * 1024


def _members(archive: str) -> list[tuple[str, bytes]]:
    blob = (reference_data_dir() / archive).read_bytes()
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            return [(i.filename, z.read(i)) for i in z.infolist()]
    out = []
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        for m in t.getmembers():
            handle = t.extractfile(m)
            assert handle is not None
            if m.name.endswith((".fits", ".fits.gz")):
                out.append((m.name, handle.read()))
    return out


def test_every_real_isla_delivery_passes_with_the_documented_warnings() -> None:
    kinds = {}
    for archive in REFERENCE_ARCHIVES:
        report = qc.check_delivery(_members(archive), LIMIT)
        assert report.ok, report.problems
        kinds.update({f.file_name: f for f in report.files})
        codes = {w.code for w in report.warnings}
        assert codes <= {"provenance", "stale_checksum", "inherited"}
    spectrum = kinds["SMC_X-1_ISGRI_0745_06340000001_spectrum_spe.fits"]
    assert (spectrum.kind, spectrum.instrument, spectrum.epoch) == (
        "spectrum",
        "ISGRI",
        "0745_06340000001",
    )
    assert spectrum.checksums == "verified" and spectrum.detchans == 256
    assert kinds["SMC_X-1_ISGRI_0745_06340000001_spectrum_arf.fits"].checksums == "stale"
    smooth = kinds["ISGRI_0727_88601650001_28_40_mosaic_smooth.fits.gz"]
    assert (smooth.kind, smooth.instrument, smooth.e_min, smooth.e_max) == (
        "mosaic",
        "ISGRI",
        28.0,
        40.0,
    )
    jemx = kinds["1A_1742-289_JEMX1_allmission_timeseries.fits"]
    assert (jemx.kind, jemx.instrument, jemx.unit) == ("long_timeseries", "JEM-X", "JEM-X1")
    assert jemx.rate is not None and len(jemx.rate) == 863


def test_the_smooth_mosaic_alone_lacks_its_identity_keywords() -> None:
    smooth = [m for m in _members("tar_gz_file.gz") if "smooth" in m[0]]
    report = qc.check_delivery(smooth, LIMIT)
    missing = {p.message for p in report.problems if p.code == "keyword"}
    assert "required keyword TELESCOP is missing" in missing


def _stamped_lightcurve() -> bytes:
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("TIME", "D", array=np.arange(5.0)),
            fits.Column("RATE", "E", array=np.ones(5)),
            fits.Column("ERROR", "E", array=np.ones(5)),
        ]
    )
    for key, value in {
        "TELESCOP": "INTEGRAL",
        "INSTRUME": "JMX2",
        "CREATOR": "test 2.1",
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREF": 51544.0,
        "NAME": "X",
        "RA_OBJ": 1.0,
        "DEC_OBJ": 2.0,
        "E_MIN": 3.0,
        "E_MAX": 20.0,
    }.items():
        table.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer, checksum=True)
    return buffer.getvalue()


def test_a_stamped_checksum_must_verify() -> None:
    good = _stamped_lightcurve()
    ok = qc.check_delivery([("lc.fits", good)], LIMIT)
    assert ok.ok and ok.files[0].checksums == "verified"
    broken = bytearray(good)
    broken[-2880 + 3] ^= 0x40
    refused = qc.check_delivery([("lc.fits", bytes(broken))], LIMIT)
    assert [p.code for p in refused.problems] == ["checksum"]


def test_an_unstamped_stale_checksum_is_only_a_warning() -> None:
    hdul = fits.open(io.BytesIO(_stamped_lightcurve()))
    for hdu in hdul:
        for key in ("CHECKSUM", "DATASUM"):
            hdu.header.comments[key] = ""
    hdul[1].header["OBJECT"] = "changed after the checksum"
    buffer = io.BytesIO()
    hdul.writeto(buffer, checksum=False)
    report = qc.check_delivery([("lc.fits", buffer.getvalue())], LIMIT)
    assert report.ok
    assert "stale_checksum" in {w.code for w in report.warnings}


def test_a_gzip_bomb_is_refused_without_expanding_it() -> None:
    bomb = gzip.compress(b"\0" * (2 * 1024 * 1024))
    report = qc.check_delivery([("bomb.fits.gz", bomb)], 100 * 1024)
    assert [p.code for p in report.problems] == ["compression"]


def test_path_like_and_foreign_names_are_refused() -> None:
    for name in ("../a.fits", "a/b.fits", ".hidden.fits", "a.txt", "a\\b.fits", ""):
        assert [p.code for p in qc.check_file_name(name)] == ["file_name"], name
    assert qc.check_file_name("SMC_X-1_ISGRI_0745_06340000001_spectrum_spe.fits") == []


def _healpix(nside: int, n_pixels: int) -> bytes:
    table = fits.BinTableHDU.from_columns(
        [fits.Column("FLUX", "E", array=np.linspace(0.0, 1.0, n_pixels))]
    )
    for key, value in {
        "PIXTYPE": "HEALPIX",
        "ORDERING": "NESTED",
        "NSIDE": nside,
        "INDXSCHM": "IMPLICIT",
        "TELESCOP": "INTEGRAL",
        "INSTRUME": "SPI",
        "CREATOR": "test 1.0",
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREF": 51544.0,
        "TSTART": 1000.0,
        "TSTOP": 9000.0,
    }.items():
        table.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    return buffer.getvalue()


def test_healpix_all_sky_maps() -> None:
    good = qc.check_delivery([("spi_allsky.fits", _healpix(4, 12 * 16))], LIMIT)
    assert good.ok, good.problems
    assert (good.files[0].kind, good.files[0].instrument) == ("allsky_map", "SPI")
    bad = qc.check_delivery([("spi_allsky.fits", _healpix(3, 12 * 9))], LIMIT)
    assert [p.code for p in bad.problems] == ["healpix"]


def _results_table(rate: list[float], scws: list[str], times: list[float]) -> bytes:
    n = len(rate)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("SOURCE_ID", "16A", array=["J053432.0+220052"] * n),
            fits.Column("SCW_ID", "12A", array=scws),
            fits.Column("BAND", "8A", array=["28_40"] * n),
            fits.Column("TIME", "D", unit="d", array=times),
            fits.Column("TIMEDEL", "D", unit="d", array=[0.02] * n),
            fits.Column("EXPOSURE", "D", unit="s", array=[1500.0] * n),
            fits.Column("RATE", "E", array=rate),
            fits.Column("RATE_ERR", "E", array=[0.5] * n),
            fits.Column("OFFAXIS", "D", array=[1.0] * n),
        ]
    )
    for key, value in {
        "TELESCOP": "INTEGRAL",
        "INSTRUME": "IBIS",
        "DETNAM": "ISGRI",
        "CREATOR": "osa 11.2",
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREF": 51544.5,
    }.items():
        table.header[key] = value
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out, checksum=True)
    return out.getvalue()


def test_a_results_table_is_read_row_by_row_and_checked_against_the_archive() -> None:
    """Per-ScW source results: times converted to IJD, TIMEDEL to seconds; rows naming an
    unknown ScW or band, or outside their ScW, are each reported with their row number."""
    data = _results_table(
        [5.0, 6.0, 7.0], ["012300010010", "012300020010", "099900010010"], [1.0, 2.0, 1.0]
    )
    report = qc.check_delivery([("ISGRI_results.fits", data)], 1 << 20)
    assert report.ok, report.problems
    (facts,) = report.files
    assert facts.kind == qc.RESULTS_KIND and facts.instrument == "ISGRI"
    assert facts.results is not None
    assert np.allclose(facts.results.time, [1.5, 2.5, 1.5])  # MJDREF 51544.5 to IJD
    assert np.allclose(facts.results.timedel_s, 1728.0)
    scws = {
        "012300010010": qc.ScwSpan(1.49, 1.51, 123),
        "012300020010": qc.ScwSpan(2.0, 2.2, 123),  # 2.5 is outside
    }
    bands = [{"band_id": 1, "instrument": "ISGRI", "name": "28_40", "e_min": 28.0, "e_max": 40.0}]
    band_ids, problems = qc.resolve_results(facts, scws, {"J053432.0+220052"}, bands)
    assert band_ids.tolist() == [1, 1, 1]
    assert [(p.code, p.message.split(":")[0]) for p in problems] == [
        ("scw", "row 3"),
        ("scw_time", "row 2"),
    ]
    _ids, problems = qc.resolve_results(facts, scws, set(), [])
    assert {p.code for p in problems} == {"source", "scw", "scw_time", "band"}


def test_a_results_table_with_a_non_finite_rate_is_refused() -> None:
    data = _results_table([5.0, float("nan")], ["012300010010", "012300020010"], [1.0, 2.0])
    report = qc.check_delivery([("ISGRI_results.fits", data)], 1 << 20)
    assert [(p.code, p.message) for p in report.problems] == [
        ("non_finite", "row 2: RATE NaN or infinite")
    ]


def test_demo_results_tables_are_labelled_simulated() -> None:
    from shared.demo.lightcurves import results_fits

    columns = {
        "source_id": np.array(["J053432.0+220052"]),
        "scw_id": np.array(["012300010010"]),
        "e_min": np.array([28.0]),
        "e_max": np.array([40.0]),
        "time": np.array([1.5]),
        "timedel": np.array([1728.0]),
        "exposure": np.array([1500.0]),
        "rate": np.array([5.0]),
        "rate_err": np.array([0.5]),
        "offaxis": np.array([1.0]),
    }
    data = results_fits("ISGRI", columns, (123, 123))
    report = qc.check_delivery([("ISGRI_0123_0123_results.fits", data)], 1 << 20)
    assert report.ok, report.problems
    (facts,) = report.files
    assert facts.simulated and facts.kind == qc.RESULTS_KIND
    assert facts.checksums == "verified"
    assert results_fits("ISGRI", columns, (123, 123)) == data  # reproducible byte for byte
