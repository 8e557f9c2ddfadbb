"""Good times and exposures of science windows: from a delivered ScW index, or from GTI files.

Two sources, in this order of precedence:

1. **A delivered ScW index** through the versioned interface :data:`SCW_INDEX_INTERFACE`
   (``scw_index/1``): a table (FITS, VOTable or CSV) with one row per ScW whose columns are
   ISDC's ScW index (``GNRL-SCWG-GRP-IDX``: ``SWID``, ``SW_VER``, ``SW_TYPE``, ``RA_SCX``,
   ``DEC_SCX``, ``*MODE``) or HEASARC's INTEGRAL ScW table (``scw_id``, ``scw_ver``,
   ``scw_type``, ``ra_x``, ``dec_x``, ``good_isgri``, ``good_spi``, ...), any case. Its rows are
   kept in ``isla_ops.scw_index_entries`` and written into ``isla.science_windows`` at once for
   the ScWs already indexed, and by the indexer for those indexed later.
2. **The instruments' GTI files in the ScW folder** (a file whose name holds ``gti``, with
   binary tables named ``<INSTRUMENT>-...-GTI`` holding ``START``/``STOP`` in IJD): the good time
   is the sum of the intervals, the exposure the good time times ``DEADC`` when the table gives
   the dead-time correction, else the good time.

A ScW with neither keeps the values it has (none when new).
"""

from __future__ import annotations

import gzip
import io
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from services.ingest.interface import Column
from services.ingest.readers import MalformedFileError, open_table
from shared.db.ingest import SCW_INDEX_INSTRUMENTS
from shared.integral.ids import InvalidIdentifier, ScwId

INSTRUMENTS = SCW_INDEX_INSTRUMENTS
TIME_COLUMNS = tuple(f"{i}_{what}" for i in INSTRUMENTS for what in ("good_time", "exposure"))
"""Columns of ``isla.science_windows`` this module fills."""

_HEASARC = {"jemx1": "jmx1", "jemx2": "jmx2"}


def _time_columns() -> list[Column]:
    cols = []
    for inst in INSTRUMENTS:
        short = _HEASARC.get(inst, inst)
        for what, aliases in (
            ("good_time", (f"good_{inst}", f"good_{short}", f"{short}_good", f"{inst}_good")),
            ("exposure", (f"exp_{inst}", f"exp_{short}", f"{short}_exposure", f"{short}_exp")),
        ):
            cols.append(
                Column(
                    f"{inst}_{what}",
                    "float",
                    f"{inst.upper()} {what.replace('_', ' ')} of the science window.",
                    unit="s",
                    aliases=tuple(dict.fromkeys(a for a in aliases if a != f"{inst}_{what}")),
                    minimum=0.0,
                    maximum=1e6,
                )
            )
    return cols


MODE_COLUMNS = ("obs_type", "ibismode", "spimode", "jmx1mode", "jmx2mode", "omcmode", "obs_id")
"""Further columns kept as they are (instrument modes, observation type and id)."""


@dataclass(frozen=True)
class ScwIndexInterface:
    """A versioned ScW index interface: its columns (canonical names with aliases)."""

    kind: str
    version: int
    columns: tuple[Column, ...]

    @property
    def name(self) -> str:
        """``kind/version``."""
        return f"{self.kind}/{self.version}"

    def describe(self) -> dict[str, Any]:
        """JSON description."""
        return {
            "name": self.name,
            "columns": [
                {
                    "name": c.name,
                    "type": c.type,
                    "unit": c.unit,
                    "required": c.required,
                    "aliases": list(c.aliases),
                    "description": c.description,
                }
                for c in self.columns
            ],
            "kept_as_modes": list(MODE_COLUMNS),
        }


SCW_INDEX_INTERFACE = ScwIndexInterface(
    "scw_index",
    1,
    (
        Column("scw_id", "str", "ScW id RRRRPPPPSSSF.", required=True, aliases=("swid", "scwid")),
        Column("version", "str", "ScW version (001 when absent).", aliases=("sw_ver", "scw_ver")),
        Column("scw_type", "str", "pointing or slew.", aliases=("sw_type",)),
        Column("ra", "float", "Pointing axis RA.", unit="deg", aliases=("ra_scx", "ra_x")),
        Column("dec", "float", "Pointing axis Dec.", unit="deg", aliases=("dec_scx", "dec_x")),
        *_time_columns(),
    ),
)
"""``scw_index/1``: ISDC's ScW index and HEASARC's INTEGRAL ScW table alike."""

SCW_INDEX_INTERFACES = {SCW_INDEX_INTERFACE.name: SCW_INDEX_INTERFACE}


class ScwIndexError(ValueError):
    """The delivered ScW index cannot be read as the interface says (nothing is written)."""


@dataclass(frozen=True)
class ScwIndexRow:
    """One ScW of a delivered index."""

    scw_id: str
    version: str
    scw_type: str | None
    ra: float | None
    dec: float | None
    times: dict[str, float]
    modes: dict[str, str]


def cell(value: Any) -> Any:
    """A table cell as a Python value (text stripped, empty and NaN as None)."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_scw_index(path: Path, filename: str | None = None) -> tuple[list[ScwIndexRow], list[str]]:
    """The rows of a ScW index file, and the problems of the rows that were left out.

    A file without an identifiable ScW id column is refused as a whole (ScwIndexError).
    """
    try:
        table = open_table(path, filename=filename)
    except (MalformedFileError, OSError, ValueError) as exc:
        raise ScwIndexError(f"the ScW index does not read: {exc}") from exc
    by_lower = {c.lower(): c for c in table.columns}
    found: dict[str, str] = {}
    for col in SCW_INDEX_INTERFACE.columns:
        for alias in col.names():
            if alias.lower() in by_lower:
                found[col.name] = by_lower[alias.lower()]
                break
    if "scw_id" not in found:
        raise ScwIndexError(
            "no ScW id column (scw_id, SWID or scwid) among: " + ", ".join(table.columns)
        )
    modes = {m: by_lower[m] for m in MODE_COLUMNS if m in by_lower}
    rows: list[ScwIndexRow] = []
    problems: list[str] = []
    for chunk in table.chunks:
        for i in range(chunk.size):
            cells = {name: cell(chunk.columns[source][i]) for name, source in found.items()}
            try:
                rows.append(
                    _row(cells.get, {m: cell(chunk.columns[c][i]) for m, c in modes.items()})
                )
            except (InvalidIdentifier, ValueError, TypeError) as exc:
                problems.append(f"row {chunk.first_row + i}: {exc}")
    return rows, problems


def _row(get: Any, modes: dict[str, Any]) -> ScwIndexRow:
    raw_id = str(get("scw_id") or "")
    version = get("version")
    if version is not None:
        version = (
            f"{int(float(version)):03d}" if str(version).replace(".", "").isdigit() else version
        )
    scw = ScwId.parse(raw_id if "." in raw_id or version is None else f"{raw_id}.{version}")
    scw_type = get("scw_type")
    if scw_type is not None:
        scw_type = str(scw_type).lower()
        if scw_type not in ("pointing", "slew"):
            raise ValueError(f"scw_type {scw_type!r} is neither pointing nor slew")
    times: dict[str, float] = {}
    for name in TIME_COLUMNS:
        value = get(name)
        if value is None:
            continue
        number = float(value)
        if not 0.0 <= number <= 1e6:
            raise ValueError(f"{name} {number} is not a duration in seconds")
        times[name] = number
    ra, dec = get("ra"), get("dec")
    return ScwIndexRow(
        scw.id,
        scw.version,
        scw_type,
        None if ra is None else float(ra),
        None if dec is None else float(dec),
        times,
        {k: str(v) for k, v in modes.items() if v is not None},
    )


# --- GTI files in the ScW ----------------------------------------------------------------------

_GTI_FILE = re.compile(r"gti", re.IGNORECASE)
_EXT_INSTRUMENT = {
    "IBIS": "isgri",
    "ISGR": "isgri",
    "PICS": "picsit",
    "JMX1": "jemx1",
    "JMX2": "jemx2",
    "SPI.": "spi",
    "SPI": "spi",
    "OMC.": "omc",
    "OMC": "omc",
}


def is_gti_file(name: str) -> bool:
    """Whether a ScW file name is one of the instruments' GTI files."""
    return bool(_GTI_FILE.search(name))


def _instrument(extname: str) -> str | None:
    head = extname.upper().split("-", 1)[0]
    return _EXT_INSTRUMENT.get(head)


def gti_times(data: bytes, start_ijd: float, end_ijd: float) -> dict[str, float]:
    """Good time and exposure (s) per instrument from one GTI file, clipped to the ScW."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    times: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        with fits.open(io.BytesIO(data)) as hdul:
            for hdu in _gti_tables(hdul):
                inst = _instrument(str(hdu.name))
                if inst is None:
                    continue
                start = np.clip(np.asarray(hdu.data["START"], dtype=float), start_ijd, end_ijd)
                stop = np.clip(np.asarray(hdu.data["STOP"], dtype=float), start_ijd, end_ijd)
                good = float(np.sum(np.maximum(stop - start, 0.0)) * 86400.0)
                deadc = hdu.header.get("DEADC")
                exposure = good * float(deadc) if deadc is not None else good
                times[f"{inst}_good_time"] = times.get(f"{inst}_good_time", 0.0) + round(good, 3)
                times[f"{inst}_exposure"] = times.get(f"{inst}_exposure", 0.0) + round(exposure, 3)
    return times


def _gti_tables(hdul: fits.HDUList) -> Iterator[Any]:
    for hdu in hdul[1:]:
        if not isinstance(hdu, fits.BinTableHDU) or not str(hdu.name).upper().endswith("GTI"):
            continue
        names = {n.upper() for n in hdu.columns.names or []}
        if {"START", "STOP"} <= names:
            yield hdu
