"""The served time-series datasets: SPI-ACS at its finest delivered resolution, rebinned to 2 s
and 10 s, and IREM's count-rate channels.

``spiacs_50ms`` and ``irem`` are *delivered*: one FITS file per revolution goes through ingest.
``spiacs_2s`` and ``spiacs_10s`` are *derived* by the archive from the delivered SPI-ACS samples
(mean rate of the valid samples in each bin aligned to multiples of the bin length in TT), so
they never disagree with the delivered data.

``spiacs_50ms`` holds SPI-ACS at the resolution it was delivered in. Its nominal cadence is 50 ms;
a delivered file with another ``TIMEDEL`` (the real GRB 230307A file has 0.1 s) keeps its own
time step: segments carry their ``dt``, and nothing is resampled.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DATASETS",
    "IREM_CHANNELS",
    "Dataset",
    "Parameter",
    "dataset",
]


@dataclass(frozen=True)
class Parameter:
    """One served quantity of a dataset (a HAPI parameter after the time column)."""

    name: str
    units: str | None
    description: str
    hapi_type: str = "double"
    dtype: str = "<f8"
    """Storage type of derived datasets (delivered ones keep the file's column type)."""


@dataclass(frozen=True)
class Dataset:
    """A time series served by plot and HAPI."""

    id: str
    title: str
    instrument: str
    cadence_s: float
    """Nominal time between records (HAPI ``cadence``)."""
    parameters: tuple[Parameter, ...]
    plot_parameters: tuple[str, ...]
    """Parameters with a pyramid (plottable at any zoom)."""
    description: str
    derived_from: str | None = None
    bin_s: float | None = None

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the parameters, in their order."""
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``; KeyError when there is none."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)


IREM_CHANNELS = (
    "TC1",
    "S12",
    "S13",
    "S14",
    "S15",
    "TC2",
    "S25",
    "C1",
    "C2",
    "C3",
    "C4",
    "TC3",
    "S32",
    "S33",
    "S34",
)
"""IREM's 15 count-rate channels, in the order of the delivered files."""

_RATE = Parameter("rate", "counts/s", "SPI-ACS count rate (all 91 BGO crystals summed).")
_ERROR = Parameter("error", "counts/s", "One-sigma uncertainty of the rate.")


def _rebinned(seconds: int) -> Dataset:
    return Dataset(
        id=f"spiacs_{seconds}s",
        title=f"INTEGRAL SPI-ACS count rate, {seconds} s bins",
        instrument="SPI-ACS",
        cadence_s=float(seconds),
        parameters=(
            Parameter("rate", "counts/s", f"Mean SPI-ACS count rate over the {seconds} s bin."),
            Parameter("error", "counts/s", "One-sigma uncertainty of the mean rate."),
            Parameter(
                "samples",
                None,
                "Number of valid delivered samples averaged in the bin.",
                hapi_type="integer",
                dtype="<i4",
            ),
        ),
        plot_parameters=("rate",),
        description=(
            f"SPI-ACS count rate rebinned by the archive to {seconds} s bins aligned to "
            f"multiples of {seconds} s of TT since IJD 0, from the delivered SPI-ACS samples."
        ),
        derived_from="spiacs_50ms",
        bin_s=float(seconds),
    )


DATASETS: dict[str, Dataset] = {
    d.id: d
    for d in (
        Dataset(
            id="spiacs_50ms",
            title="INTEGRAL SPI-ACS count rate, full resolution (50 ms)",
            instrument="SPI-ACS",
            cadence_s=0.05,
            parameters=(_RATE, _ERROR),
            plot_parameters=("rate",),
            description=(
                "SPI anticoincidence shield count rate at the resolution it was delivered in: "
                "50 ms nominally; files delivered at another TIMEDEL keep it."
            ),
        ),
        _rebinned(2),
        _rebinned(10),
        Dataset(
            id="irem",
            title="INTEGRAL IREM radiation monitor count rates",
            instrument="IREM",
            cadence_s=8.0,
            parameters=tuple(
                Parameter(ch, "counts/s", f"IREM channel {ch} count rate.") for ch in IREM_CHANNELS
            ),
            plot_parameters=IREM_CHANNELS,
            description=(
                "The 15 count-rate channels of the INTEGRAL Radiation Environment Monitor at "
                "their delivered cadence."
            ),
        ),
    )
}
"""Every served dataset by id."""


def dataset(dataset_id: str) -> Dataset:
    """The dataset ``dataset_id``; KeyError when unknown."""
    return DATASETS[dataset_id]
