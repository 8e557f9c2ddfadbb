"""Parts of the raw indexer that need no server: S3 checksum headers, orbit files, GTI files,
ScW index tables, the folders of the instrument-characteristics tree."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from services.ingest.raw_index.exposures import ScwIndexError, gti_times, read_scw_index
from services.ingest.raw_index.ic import Folder, folder_of
from services.raw.ic import IcSelectionError, check_prefix, label
from shared.integral.orbit import OrbitFileError, revolution_bounds_from_fits
from shared.integral.revolutions import revolution_end, revolution_start
from shared.storage import s3_checksum_sha256

REAL_ORBIT = Path(__file__).parents[2] / "shared" / "data" / "real" / "sc_orbit_param.fits.gz"


def test_s3_checksum_header_is_read_as_hex_and_composites_are_ignored() -> None:
    digest = hashlib.sha256(b"INTEGRAL").digest()
    value = base64.b64encode(digest).decode()
    assert s3_checksum_sha256({"x-amz-checksum-sha256": value}) == digest.hex()
    assert s3_checksum_sha256({"x-amz-checksum-sha256": value + "-3"}) is None
    assert (
        s3_checksum_sha256({"x-amz-checksum-sha256": value, "x-amz-checksum-type": "COMPOSITE"})
        is None
    )
    assert s3_checksum_sha256({"x-amz-checksum-sha256": "not base64!"}) is None
    assert s3_checksum_sha256({}) is None


def test_the_real_orbit_file_gives_revolution_789_as_the_revolution_table_has_it() -> None:
    bounds = revolution_bounds_from_fits(REAL_ORBIT.read_bytes())
    assert bounds.revolution == 789
    assert abs((bounds.start - revolution_start(789)).sec) < 1.0
    assert abs((bounds.end - revolution_end(789)).sec) < 1.0


def test_a_file_without_an_orbit_table_is_refused() -> None:
    with pytest.raises(OrbitFileError):
        revolution_bounds_from_fits(b"SIMPLE  = not FITS at all")
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU()]).writeto(buffer)
    with pytest.raises(OrbitFileError):
        revolution_bounds_from_fits(buffer.getvalue())


def _gti(extname: str, intervals: list[tuple[float, float]], deadc: float | None) -> bytes:
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", "D", array=np.array([a for a, _ in intervals])),
            fits.Column("STOP", "D", array=np.array([b for _, b in intervals])),
        ],
        name=extname,
    )
    if deadc is not None:
        hdu.header["DEADC"] = deadc
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    return buffer.getvalue()


def test_gti_good_time_is_clipped_to_the_scw_and_exposure_corrected_for_dead_time() -> None:
    day = 86400.0
    data = _gti("JMX2-GNRL-GTI", [(100.0, 100.0 + 600 / day), (100.0 + 900 / day, 101.0)], 0.8)
    # The ScW ends 1000 s after 100.0: the second interval counts 100 s.
    times = gti_times(data, 100.0, 100.0 + 1000 / day)
    assert times["jemx2_good_time"] == pytest.approx(700.0, abs=1e-3)
    assert times["jemx2_exposure"] == pytest.approx(560.0, abs=1e-3)
    assert gti_times(_gti("XXXX-GNRL-GTI", [(100.0, 101.0)], None), 100.0, 101.0) == {}


def test_scw_index_reads_isdc_and_heasarc_names_and_reports_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "index.csv"
    path.write_text(
        "SWID,SW_VER,SW_TYPE,RA_SCX,DEC_SCX,GOOD_ISGRI,EXP_JMX1,IBISMODE\n"
        "078900560010,1,POINTING,83.6,22.0,2000,1500,41\n"
        "0789005600,1,POINTING,83.6,22.0,2000,1500,41\n"
        "078900570010,1,SLEW,83.6,22.0,-5,,41\n"
    )
    rows, problems = read_scw_index(path, "index.csv")
    assert [(r.scw_id, r.version, r.scw_type) for r in rows] == [
        ("078900560010", "001", "pointing")
    ]
    assert rows[0].times == {"isgri_good_time": 2000.0, "jemx1_exposure": 1500.0}
    assert rows[0].modes == {"ibismode": "41"}
    assert [p.split(":")[0] for p in problems] == ["row 2", "row 3"]
    no_ids = tmp_path / "no_ids.csv"
    no_ids.write_text("ra,dec\n1,2\n")
    with pytest.raises(ScwIndexError):
        read_scw_index(no_ids, "no_ids.csv")


def test_keys_of_the_instrument_characteristics_tree_fall_into_their_folders() -> None:
    assert folder_of("ic/ibis/rsp/isgr_rmf_grp_0027.fits") == Folder("ic", "ibis")
    assert folder_of("ic/spi/spi_irf_grp_0023.fits") == Folder("ic", "spi")
    assert folder_of("idx/ic/ic_master_file.fits") == Folder("idx", None)
    assert folder_of("idx/ic/ibis/ISGR-RMF.-RSP-IDX.fits") == Folder("idx", "ibis")
    assert folder_of("ic/README") == Folder("ic", None)
    assert Folder("idx", "ibis").prefix == "idx/ic/ibis/"
    for outside in ("scw/0789/078900560010.001/swg.fits", "icx/a", "idx/scw/a", "ic/"):
        assert folder_of(outside) is None, outside


def test_a_selection_of_the_tree_stays_inside_it() -> None:
    assert check_prefix("ic/ibis/rsp") == "ic/ibis/rsp/"
    assert check_prefix("idx/ic/") == "idx/ic/"
    assert check_prefix(None) is None and check_prefix("") is None
    for outside in ("scw/0789/", "ic/../scw/", "/ic/ibis", "ic//ibis", "idx/"):
        with pytest.raises(IcSelectionError):
            check_prefix(outside)
    assert label("ic/ibis/rsp/", None) == "ic_ibis_rsp"
    assert label("idx/ic/", None) == "ic_idx"
    assert label(None, "spi") == "ic_spi"
