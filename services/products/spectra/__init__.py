"""Spectra and their responses: ``/products/spectra/...`` and ``/products/responses/...``."""
