"""INTEGRAL helpers: IJD time conversions, the revolution table and identifier parsing."""

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
    from shared.integral.revolutions import (
        MISSION_END,
        MISSION_START,
        last_revolution,
        revolution_at,
        revolution_bounds,
        revolution_end,
        revolution_start,
        revolutions_at_ijd,
    )
    from shared.integral.time import (
        MJDREF,
        TimeLike,
        ijd_to_mjd,
        ijd_to_time,
        ijd_to_utc,
        mjd_to_ijd,
        time_to_ijd,
        times_to_ijd,
        utc_to_ijd,
    )

# The time helpers pull in astropy (~45 MB, half a second); services that only parse
# identifiers (the raw data service) should not pay for it, so they load on first use.
_TIME_NAMES = frozenset(
    {
        "MJDREF",
        "TimeLike",
        "ijd_to_mjd",
        "ijd_to_time",
        "ijd_to_utc",
        "mjd_to_ijd",
        "time_to_ijd",
        "times_to_ijd",
        "utc_to_ijd",
    }
)
_REVOLUTION_NAMES = frozenset(
    {
        "MISSION_END",
        "MISSION_START",
        "last_revolution",
        "revolution_at",
        "revolution_bounds",
        "revolution_end",
        "revolution_start",
        "revolutions_at_ijd",
    }
)


def __getattr__(name: str) -> Any:
    if name in _TIME_NAMES:
        from shared.integral import time

        return getattr(time, name)
    if name in _REVOLUTION_NAMES:
        from shared.integral import revolutions

        return getattr(revolutions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MISSION_END",
    "MISSION_START",
    "MJDREF",
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
    "revolutions_at_ijd",
    "source_id_from_position",
    "time_to_ijd",
    "times_to_ijd",
    "utc_to_ijd",
    "validate_revolution",
]
