"""VO serialisation shared by the services: TAP_SCHEMA metadata, VOTable, CSV/TSV and JSON."""
