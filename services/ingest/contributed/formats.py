"""Format checks of contributed files, before anything is written.

A contributed collection is not ISLA pipeline output, so its files are not held to the product
rules of :mod:`services.ingest.qc` (INTEGRAL keywords, light-curve columns): they are checked
for being what their names say, readable by the field's libraries, and safe to hand out.

- **Products**: FITS (``.fits``, ``.fit``, ``.fts``, optionally ``.gz``) opened and verified
  by astropy (``verify('exception')``, every HDU's data read, ``DATASUM``/``CHECKSUM`` checked
  as for products, HEALPix maps with a power-of-2 ``NSIDE`` and 12·NSIDE² pixels); tables as
  CSV, ECSV or VOTable parsed by astropy, with at least one column and one row.
- **Documentation**: Markdown, reStructuredText or plain text (UTF-8, no NUL) or PDF (``%PDF-``
  header, ``%%EOF`` trailer).
- **Software**: a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` archive that is *listed*, never
  extracted: every member must pass :func:`tarfile.data_filter` (no absolute path, no ``..``,
  no link leaving the archive, no device) or its zip equivalent, the archive holds at most
  :data:`MAX_MEMBERS` members and expands to at most :data:`EXPANSION_LIMIT` times the upload
  limit (a compression bomb is refused, not unpacked).
- **Simulation**: a FITS file with ``SIMDATA = T``, an ECSV or VOTable whose metadata says
  ``SIMDATA``, or a table whose ``simulated`` column is true in every row is simulated; a
  collection is simulated or real as a whole (mixing both is refused).

Every problem of every file is returned at once; nothing here touches the database or the
object store.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.io.votable.tree import Param
from astropy.table import Table

from services.ingest import qc
from shared import simulation

EXPANSION_LIMIT = qc.EXPANSION_LIMIT
"""A compressed file may expand to at most this many times the upload size limit."""

MAX_MEMBERS = 10_000
"""Most members in a software archive."""

LISTED_MEMBERS = 200
"""Members of a software archive listed in the facts (the count is always given)."""

PRODUCT_KINDS = {"table": "contributed_table", "map": "contributed_map"}
"""Product kind of a contributed product file, by what it holds (``isla.products.kind``)."""

_PRODUCT_FORMATS = {
    ".fits": ("fits", "application/fits"),
    ".fit": ("fits", "application/fits"),
    ".fts": ("fits", "application/fits"),
    ".fits.gz": ("fits", "application/gzip"),
    ".fit.gz": ("fits", "application/gzip"),
    ".fts.gz": ("fits", "application/gzip"),
    ".csv": ("csv", "text/csv"),
    ".ecsv": ("ecsv", "text/x-ecsv"),
    ".vot": ("votable", "application/x-votable+xml"),
    ".votable": ("votable", "application/x-votable+xml"),
    ".xml": ("votable", "application/x-votable+xml"),
}
_DOC_FORMATS = {
    ".md": ("markdown", "text/markdown"),
    ".markdown": ("markdown", "text/markdown"),
    ".rst": ("text", "text/x-rst"),
    ".txt": ("text", "text/plain"),
    ".pdf": ("pdf", "application/pdf"),
}
_SOFTWARE_FORMATS = {
    ".tar": ("tar", "application/x-tar"),
    ".tar.gz": ("tar", "application/gzip"),
    ".tgz": ("tar", "application/gzip"),
    ".zip": ("zip", "application/zip"),
}
ROLE_FORMATS = {
    "product": _PRODUCT_FORMATS,
    "documentation": _DOC_FORMATS,
    "software": _SOFTWARE_FORMATS,
}
"""Accepted file name endings per role: (format, media type)."""


@dataclass
class CheckedFile:
    """A file that passed its checks: what the archive records about it."""

    file_name: str
    role: str
    format: str
    content_type: str
    data: bytes
    sha256: str
    facts: dict[str, Any] = field(default_factory=dict)
    simulated: bool = False

    @property
    def size(self) -> int:
        """Bytes of the file as delivered."""
        return len(self.data)

    @property
    def kind(self) -> str | None:
        """The ``isla.products`` kind of a product file (None for documentation, software)."""
        if self.role != "product":
            return None
        return PRODUCT_KINDS["map" if self.facts.get("holds") == "map" else "table"]

    def summary(self) -> dict[str, Any]:
        """JSON form (without the bytes)."""
        return {
            "file_name": self.file_name,
            "role": self.role,
            "format": self.format,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "simulated": self.simulated,
            "facts": self.facts,
        }


@dataclass
class FormatReport:
    """Every delivered file's outcome: checked files, problems and warnings."""

    files: list[CheckedFile] = field(default_factory=list)
    problems: list[qc.Problem] = field(default_factory=list)
    warnings: list[qc.Problem] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        """True when the collection's product files are simulated."""
        return any(f.simulated for f in self.files if f.role == "product")


def _suffix(name: str, table: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    lower = name.lower()
    # Longest ending first, so that .tar.gz is not read as .gz.
    for ending in sorted(table, key=len, reverse=True):
        if lower.endswith(ending):
            return table[ending]
    return None


def check_name(name: str, role: str) -> list[qc.Problem]:
    """Problems with a delivered file name for ``role`` (unsafe, or an unknown format)."""
    problems = [p for p in qc.check_file_name(name) if "not a FITS file name" not in p.message]
    if problems:
        return problems
    if _suffix(name, ROLE_FORMATS[role]) is None:
        endings = ", ".join(ROLE_FORMATS[role])
        return [qc.Problem(name, "format", f"a {role} file must end in one of {endings}")]
    return []


def check_delivery(
    products: list[tuple[str, bytes]],
    documentation: list[tuple[str, bytes]],
    software: list[tuple[str, bytes]],
    upload_limit: int,
) -> FormatReport:
    """Check every file of a contributed delivery; all problems at once."""
    report = FormatReport()
    if not products:
        report.problems.append(qc.Problem("-", "empty", "no product file was sent (file=)"))
    if len(documentation) != 1:
        report.problems.append(
            qc.Problem(
                "-",
                "documentation",
                f"exactly one documentation file (documentation=) is required, "
                f"{len(documentation)} sent",
            )
        )
    if len(software) > 1:
        report.problems.append(
            qc.Problem("-", "software", f"at most one software archive, {len(software)} sent")
        )
    seen: set[str] = set()
    for role, files in (
        ("product", products),
        ("documentation", documentation),
        ("software", software),
    ):
        for name, data in files:
            if name in seen:
                report.problems.append(qc.Problem(name, "duplicate", "sent twice"))
                continue
            seen.add(name)
            checked = check_file(name, data, role, upload_limit, report)
            if checked is not None:
                report.files.append(checked)
    flags = {f.simulated for f in report.files if f.role == "product"}
    if len(flags) > 1:
        report.problems.append(
            qc.Problem(
                "-",
                "simulated",
                "simulated (SIMDATA) and real product files cannot share a collection",
            )
        )
    return report


def check_file(
    name: str, data: bytes, role: str, upload_limit: int, report: FormatReport
) -> CheckedFile | None:
    """Check one file; its problems go to ``report``; the checked file, or None if refused."""
    problems = check_name(name, role)
    if not problems and not data:
        problems = [qc.Problem(name, "empty", "the file is empty")]
    if problems:
        report.problems.extend(problems)
        return None
    fmt, content_type = _suffix(name, ROLE_FORMATS[role]) or ("", "")
    checked = CheckedFile(name, role, fmt, content_type, data, hashlib.sha256(data).hexdigest())
    before = len(report.problems)
    try:
        if fmt == "fits":
            _fits(checked, upload_limit * EXPANSION_LIMIT, report)
        elif fmt in ("csv", "ecsv", "votable"):
            _table(checked, report)
        elif fmt in ("markdown", "text"):
            _text(checked, report)
        elif fmt == "pdf":
            _pdf(checked, report)
        elif fmt == "tar":
            _tar(checked, upload_limit * EXPANSION_LIMIT, report)
        elif fmt == "zip":
            _zip(checked, upload_limit * EXPANSION_LIMIT, report)
    except Exception as exc:  # a reader's failure on hostile bytes is a refusal, not a 500
        report.problems.append(qc.Problem(name, "unreadable", f"{type(exc).__name__}: {exc}"))
    return checked if len(report.problems) == before else None


# --- products --------------------------------------------------------------------------------


def _fits(f: CheckedFile, expanded_limit: int, report: FormatReport) -> None:
    try:
        raw = qc._decompress(f.file_name, f.data, expanded_limit)
    except ValueError as exc:
        report.problems.append(qc.Problem(f.file_name, "compression", str(exc)))
        return
    try:
        with warnings.catch_warnings():
            # A damaged file is reported as a problem, not as a warning in the service's log.
            warnings.simplefilter("ignore")
            hdul = fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=False)
    except Exception as exc:
        report.problems.append(qc.Problem(f.file_name, "not_fits", f"not a FITS file: {exc}"))
        return
    with hdul:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hdul.verify("exception")
        except Exception as exc:
            report.problems.append(qc.Problem(f.file_name, "not_fits", f"FITS verify: {exc}"))
            return
        problems: list[qc.Problem] = []
        qc._verify_checksums(f.file_name, raw, hdul, problems, report.warnings)
        hdus: list[dict[str, Any]] = []
        holds = "table"
        for index, hdu in enumerate(hdul):
            header = hdu.header
            if simulation.is_simulated(header.get(simulation.SIMDATA)):
                f.simulated = True
            data = hdu.data  # reading it is the check that the data are there
            entry: dict[str, Any] = {"index": index, "name": hdu.name, "type": type(hdu).__name__}
            if isinstance(hdu, fits.BinTableHDU | fits.TableHDU) and data is not None:
                entry["rows"] = len(data)
                entry["columns"] = list(data.columns.names)[:100]
                if str(header.get("PIXTYPE", "")).strip().upper() == "HEALPIX":
                    holds = "map"
                    entry["nside"] = header.get("NSIDE")
                    _healpix(f, hdu, problems)
            elif data is not None and getattr(data, "ndim", 0) >= 1:
                entry["shape"] = list(data.shape)
                if data.ndim >= 2:
                    holds = "map"
                if np.issubdtype(data.dtype, np.floating) and np.isinf(data).any():
                    problems.append(
                        qc.Problem(f.file_name, "non_finite", f"HDU {index}: infinite pixels")
                    )
            hdus.append(entry)
        report.problems.extend(problems)
        f.facts = {"hdus": hdus, "holds": holds}


def _healpix(f: CheckedFile, hdu: Any, problems: list[qc.Problem]) -> None:
    nside = hdu.header.get("NSIDE")
    if not isinstance(nside, int) or nside < 1 or nside & (nside - 1):
        problems.append(qc.Problem(f.file_name, "healpix", "NSIDE must be a power of 2"))
        return
    first = hdu.data.columns.names[0]
    values = np.asarray(hdu.data[first], dtype=np.float64)
    scheme = str(hdu.header.get("INDXSCHM", "IMPLICIT")).strip().upper()
    if scheme == "IMPLICIT" and values.size != 12 * nside**2:
        problems.append(
            qc.Problem(f.file_name, "healpix", f"{values.size} pixels for NSIDE {nside}")
        )
    if np.isinf(values).any():
        problems.append(qc.Problem(f.file_name, "non_finite", "the map has infinite pixels"))


def _table(f: CheckedFile, report: FormatReport) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if f.format == "votable":
            votable = parse_votable(io.BytesIO(f.data))
            table = votable.get_first_table().to_table()
            infos = {i.name.upper(): i.value for i in votable.iter_info()}
            params = {
                p.name.upper(): p.value
                for p in votable.iter_fields_and_params()
                if isinstance(p, Param)
            }
            simdata = infos.get("SIMDATA", params.get("SIMDATA"))
        else:
            table = Table.read(io.BytesIO(f.data), format=f"ascii.{f.format}")
            simdata = {str(k).upper(): v for k, v in table.meta.items()}.get("SIMDATA")
    if not table.colnames or len(table) == 0:
        report.problems.append(
            qc.Problem(f.file_name, "empty_table", "a table needs at least one column and row")
        )
        return
    names = {c.lower(): c for c in table.colnames}
    flagged = False
    if "simulated" in names:
        column = np.asarray(table[names["simulated"]]).astype(str)
        flagged = bool(np.all(np.char.upper(column) == "TRUE") or np.all(column == "1"))
    f.simulated = flagged or simulation.is_simulated(simdata)
    f.facts = {
        "holds": "table",
        "rows": len(table),
        "columns": [
            {"name": c, "unit": str(table[c].unit) if table[c].unit else None}
            for c in table.colnames[:100]
        ],
    }


# --- documentation ---------------------------------------------------------------------------


def _text(f: CheckedFile, report: FormatReport) -> None:
    try:
        text = f.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        report.problems.append(qc.Problem(f.file_name, "encoding", f"not UTF-8 text: {exc}"))
        return
    if "\x00" in text:
        report.problems.append(qc.Problem(f.file_name, "encoding", "text holds NUL bytes"))
        return
    if not text.strip():
        report.problems.append(qc.Problem(f.file_name, "empty", "the documentation is empty"))
        return
    title = next((line.strip("# ").strip() for line in text.splitlines() if line.strip()), "")
    f.facts = {"lines": text.count("\n") + 1, "title": title[:200]}


def _pdf(f: CheckedFile, report: FormatReport) -> None:
    if not f.data.startswith(b"%PDF-"):
        report.problems.append(qc.Problem(f.file_name, "not_pdf", "no %PDF- header"))
        return
    if b"%%EOF" not in f.data[-2048:]:
        report.problems.append(qc.Problem(f.file_name, "not_pdf", "no %%EOF trailer"))
        return
    f.facts = {"pdf_version": f.data[5:8].decode("ascii", "replace")}


# --- software --------------------------------------------------------------------------------


def _listing(f: CheckedFile, members: list[tuple[str, int]]) -> None:
    f.facts = {
        "members": len(members),
        "unpacked_size": sum(size for _, size in members),
        "listing": [{"name": n, "size": s} for n, s in members[:LISTED_MEMBERS]],
    }


def _tar(f: CheckedFile, expanded_limit: int, report: FormatReport) -> None:
    try:
        raw = qc._decompress(f.file_name, f.data, expanded_limit)
    except ValueError as exc:
        report.problems.append(qc.Problem(f.file_name, "compression", str(exc)))
        return
    members: list[tuple[str, int]] = []
    unsafe: list[str] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            for member in archive:
                if len(members) >= MAX_MEMBERS:
                    report.problems.append(
                        qc.Problem(f.file_name, "members", f"more than {MAX_MEMBERS} members")
                    )
                    return
                try:
                    # The extraction filter Python applies by default from 3.14: what it
                    # refuses could write outside the folder it is extracted into.
                    tarfile.data_filter(member, "/nonexistent-extraction-root")
                except tarfile.FilterError as exc:
                    unsafe.append(f"{member.name}: {exc}")
                    continue
                members.append((member.name, int(member.size)))
    except tarfile.TarError as exc:
        report.problems.append(qc.Problem(f.file_name, "archive", f"not a tar archive: {exc}"))
        return
    _refuse_unsafe(f, unsafe, report)
    _listing(f, members)


def _zip(f: CheckedFile, expanded_limit: int, report: FormatReport) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(f.data))
    except zipfile.BadZipFile as exc:
        report.problems.append(qc.Problem(f.file_name, "archive", f"not a zip archive: {exc}"))
        return
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            report.problems.append(
                qc.Problem(f.file_name, "members", f"more than {MAX_MEMBERS} members")
            )
            return
        unsafe = []
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                unsafe.append(f"{name}: path leaves the archive's folder")
            elif (info.external_attr >> 16) & 0o170000 == 0o120000:
                unsafe.append(f"{name}: symbolic link")
        total = sum(i.file_size for i in infos)
        if total > expanded_limit:
            report.problems.append(
                qc.Problem(f.file_name, "compression", f"expands beyond {expanded_limit} bytes")
            )
            return
        # Declared sizes bound the reading: zipfile stops at a member's file_size.
        bad = archive.testzip()
        if bad is not None:
            report.problems.append(qc.Problem(f.file_name, "archive", f"{bad}: CRC mismatch"))
            return
        _refuse_unsafe(f, unsafe, report)
        _listing(f, [(i.filename, i.file_size) for i in infos if not i.is_dir()])


def _refuse_unsafe(f: CheckedFile, unsafe: list[str], report: FormatReport) -> None:
    for message in unsafe[:20]:
        report.problems.append(qc.Problem(f.file_name, "unsafe_member", message))
    if len(unsafe) > 20:
        report.problems.append(
            qc.Problem(f.file_name, "unsafe_member", f"and {len(unsafe) - 20} more")
        )
