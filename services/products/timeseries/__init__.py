"""SPI-ACS and IREM time series: plots at any zoom, HAPI 3.1, per-revolution files.

``routes.py`` (thin handlers) → ``service.py`` (policy: parameters, limits, encodings) →
``store.py`` (SQL on the segment and revolution indexes); ``hapi.py`` holds the HAPI documents
and streams. The samples come from the serving copy in the object store
(:mod:`shared.timeseries`).
"""
