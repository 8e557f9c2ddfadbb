"""SPI-ACS and IREM time series: a serving copy built for any zoom.

The delivered per-revolution FITS files are the source of truth. From them the archive builds a
serving copy: gap-split *segments* of flat arrays whose times are implicit
(``t0 + i * dt``), each with a multi-resolution *pyramid* (per bucket: min, max, sum and count
of valid samples). Readers fetch only the byte ranges of the level a request needs.

- :mod:`shared.timeseries.datasets`: the served datasets and their parameters;
- :mod:`shared.timeseries.times`: TT seconds since IJD 0, UTC ISO strings, HAPI time parsing;
- :mod:`shared.timeseries.segments`: segment layout, gap splitting, pyramid building, rebinning;
- :mod:`shared.timeseries.reader`: byte sources (object store, local folder) that count bytes;
- :mod:`shared.timeseries.plot`: M4 plot reduction (min/max/mean per pixel column);
- :mod:`shared.timeseries.fitsio`: reading delivered files, writing FITS for any range.
"""
