"""INTEGRAL helpers: IJD time conversions, ISLA's revolution model and identifier parsing."""

from typing import TYPE_CHECKING, Any

from shared.integral.errors import InvalidIdentifier
from shared.integral.ids import (
    Epoch,
    ObsId,
    ScwId,
    SourceId,
    format_revolution,
    normalise_source_name,
    parse_epoch,
    parse_obsid,
    parse_revolution,
    parse_scw_id,
    parse_source_id,
    source_id_from_position,
    validate_revolution,
)

if TYPE_CHECKING:
    from shared.integral.time import (
        MISSION_END,
        MISSION_START,
        MJDREF,
        REVOLUTION_PERIOD,
        REVOLUTION_PERIOD_SECONDS,
        TimeLike,
        ijd_to_mjd,
        ijd_to_time,
        ijd_to_utc,
        last_revolution,
        mjd_to_ijd,
        revolution_at,
        revolution_bounds,
        revolution_end,
        revolution_start,
        time_to_ijd,
        times_to_ijd,
        utc_to_ijd,
    )

# The time helpers pull in astropy (~45 MB, half a second); services that only parse
# identifiers (the raw data service) should not pay for it, so they load on first use.
_TIME_NAMES = frozenset(
    {
        "MISSION_END",
        "MISSION_START",
        "MJDREF",
        "REVOLUTION_PERIOD",
        "REVOLUTION_PERIOD_SECONDS",
        "TimeLike",
        "ijd_to_mjd",
        "ijd_to_time",
        "ijd_to_utc",
        "last_revolution",
        "mjd_to_ijd",
        "revolution_at",
        "revolution_bounds",
        "revolution_end",
        "revolution_start",
        "time_to_ijd",
        "times_to_ijd",
        "utc_to_ijd",
    }
)


def __getattr__(name: str) -> Any:
    if name in _TIME_NAMES:
        from shared.integral import time

        return getattr(time, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MISSION_END",
    "MISSION_START",
    "MJDREF",
    "REVOLUTION_PERIOD",
    "REVOLUTION_PERIOD_SECONDS",
    "Epoch",
    "InvalidIdentifier",
    "ObsId",
    "ScwId",
    "SourceId",
    "TimeLike",
    "format_revolution",
    "ijd_to_mjd",
    "ijd_to_time",
    "ijd_to_utc",
    "last_revolution",
    "mjd_to_ijd",
    "normalise_source_name",
    "parse_epoch",
    "parse_obsid",
    "parse_revolution",
    "parse_scw_id",
    "parse_source_id",
    "revolution_at",
    "revolution_bounds",
    "revolution_end",
    "revolution_start",
    "source_id_from_position",
    "time_to_ijd",
    "times_to_ijd",
    "utc_to_ijd",
    "validate_revolution",
]
