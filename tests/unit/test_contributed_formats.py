"""Format checks of contributed collections (pure functions of the bytes)."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import numpy as np
from astropy.io import fits

from services.ingest.contributed import formats, service
from shared.demo.contributed import demo_collections

LIMIT = 1024 * 1024
README = [("README.md", b"# A collection\n\nWhat it holds.\n")]


def _codes(report: formats.FormatReport) -> set[tuple[str, str]]:
    return {(p.file, p.code) for p in report.problems}


def _tar(members: list[tarfile.TarInfo], compress: bool = True) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for info in members:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return gzip.compress(raw.getvalue()) if compress else raw.getvalue()


def _healpix(nside: int, pixels: int) -> bytes:
    table = fits.BinTableHDU.from_columns([fits.Column("I", "E", array=np.ones(pixels))])
    table.header.update(PIXTYPE="HEALPIX", NSIDE=nside, INDXSCHM="IMPLICIT", ORDERING="RING")
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out)
    return out.getvalue()


def test_the_demo_collections_pass_and_are_simulated() -> None:
    for demo in demo_collections():
        report = formats.check_delivery(
            demo.products, demo.documentation, demo.software, 64 * LIMIT
        )
        assert report.problems == []
        assert report.simulated
        kinds = {f.file_name: f.kind for f in report.files if f.role == "product"}
        assert set(kinds.values()) <= set(formats.PRODUCT_KINDS.values())
    line_map = demo_collections()[1]
    report = formats.check_delivery(line_map.products, line_map.documentation, [], 64 * LIMIT)
    assert report.files[0].kind == "contributed_map"


def test_every_problem_of_every_file_is_reported() -> None:
    report = formats.check_delivery(
        [
            ("table.csv", b"a,b\n"),
            ("image.fits", b"not fits at all" * 10),
            ("notes.docx", b"x"),
            ("sub/dir.csv", b"a\n1\n"),
        ],
        [("README.md", b"\x00\x01")],
        [],
        LIMIT,
    )
    assert _codes(report) >= {
        ("table.csv", "empty_table"),
        ("image.fits", "not_fits"),
        ("notes.docx", "format"),
        ("sub/dir.csv", "file_name"),
        ("README.md", "encoding"),
    }
    assert report.files == []


def test_documentation_is_required_once_and_software_at_most_once() -> None:
    table = [("t.csv", b"a\n1\n")]
    assert ("-", "documentation") in _codes(formats.check_delivery(table, [], [], LIMIT))
    two = [("a.zip", b""), ("b.zip", b"")]
    assert ("-", "software") in _codes(formats.check_delivery(table, README, two, LIMIT))


def test_healpix_maps_need_a_power_of_two_nside_and_every_pixel() -> None:
    good = formats.check_delivery([("m.fits", _healpix(4, 192))], README, [], LIMIT)
    assert good.problems == [] and good.files[0].kind == "contributed_map"
    short = formats.check_delivery([("m.fits", _healpix(4, 100))], README, [], LIMIT)
    assert ("m.fits", "healpix") in _codes(short)
    odd = formats.check_delivery([("m.fits", _healpix(3, 108))], README, [], LIMIT)
    assert ("m.fits", "healpix") in _codes(odd)


def test_tables_in_ecsv_and_votable_are_parsed() -> None:
    ecsv = b"# %ECSV 1.0\n# ---\n# datatype:\n# - {name: a, datatype: int64}\na\n1\n2\n"
    votable = (
        b'<?xml version="1.0"?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
        b'<INFO name="SIMDATA" value="T"/><RESOURCE><TABLE><FIELD name="x" datatype="double"/>'
        b"<DATA><TABLEDATA><TR><TD>1.5</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
    )
    plain = formats.check_delivery([("a.ecsv", ecsv)], README, [], LIMIT)
    assert plain.problems == []
    assert plain.files[0].facts["rows"] == 2 and not plain.simulated
    flagged = formats.check_delivery([("b.vot", votable)], README, [], LIMIT)
    assert flagged.problems == [] and flagged.simulated
    mixed = formats.check_delivery([("a.ecsv", ecsv), ("b.vot", votable)], README, [], LIMIT)
    assert ("-", "simulated") in _codes(mixed)


def test_software_archives_are_listed_never_extracted_and_unsafe_members_refused() -> None:
    safe = tarfile.TarInfo("tool/run.py")
    safe.size = 3
    good = formats.check_delivery(
        [("t.csv", b"a\n1\n")], README, [("tool.tar.gz", _tar([safe]))], LIMIT
    )
    assert good.problems == []
    assert good.files[-1].facts["listing"] == [{"name": "tool/run.py", "size": 3}]
    escape = tarfile.TarInfo("../../outside.py")
    escape.size = 1
    link = tarfile.TarInfo("tool/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    device = tarfile.TarInfo("tool/dev")
    device.type = tarfile.CHRTYPE
    bad = formats.check_delivery(
        [("t.csv", b"a\n1\n")], README, [("tool.tar", _tar([escape, link, device], False))], LIMIT
    )
    unsafe = [p.message for p in bad.problems if p.code == "unsafe_member"]
    assert len(unsafe) == 3
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("/abs/path.py", "x")
        archive.writestr("ok/../../up.py", "x")
    bad_zip = formats.check_delivery(
        [("t.csv", b"a\n1\n")], README, [("tool.zip", zipped.getvalue())], LIMIT
    )
    assert [p.code for p in bad_zip.problems] == ["unsafe_member", "unsafe_member"]


def test_a_compression_bomb_is_refused_without_unpacking_it() -> None:
    bomb = tarfile.TarInfo("big.bin")
    bomb.size = 12 * LIMIT  # expands past EXPANSION_LIMIT x the upload limit of LIMIT / 2
    report = formats.check_delivery(
        [("t.csv", b"a\n1\n")], README, [("b.tar.gz", _tar([bomb]))], LIMIT // 2
    )
    assert ("b.tar.gz", "compression") in _codes(report)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros", b"\x00" * (6 * LIMIT))
    report = formats.check_delivery(
        [("t.csv", b"a\n1\n")], README, [("z.zip", zipped.getvalue())], LIMIT // 2
    )
    assert ("z.zip", "compression") in _codes(report)


def test_metadata_needs_spdx_licences_and_a_known_instrument() -> None:
    fields = {
        "collection": "Bad Name",
        "title": "t",
        "authors": " ; ",
        "description": "d",
        "licence": "cc-by-4",
        "instrument": "XMM",
    }
    meta, problems = service.metadata_problems(fields, ["ISGRI", "SPI"], with_software=True)
    codes = {p.code for p in problems}
    assert codes == {"collection", "authors", "licence", "instrument", "software_licence"}
    assert "CC-BY-4.0" in next(p.message for p in problems if p.code == "licence")
    good = {**fields, "collection": "ok-name", "authors": "A; B", "licence": "CC0-1.0"}
    meta, problems = service.metadata_problems(
        {**good, "instrument": "SPI"}, ["ISGRI", "SPI"], with_software=False
    )
    assert problems == [] and meta["authors"] == ["A", "B"]


def test_review_edges_are_the_documented_ones() -> None:
    assert service.EDGES["submitted"] == {"accepted", "rejected"}
    assert service.EDGES["accepted"] == {"published", "rejected"}
    assert not service.EDGES["published"] and not service.EDGES["rejected"]
