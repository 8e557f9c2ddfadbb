"""DOI landing pages and DataCite metadata: ``/doi/`` and ``/doi/<suffix>``."""
