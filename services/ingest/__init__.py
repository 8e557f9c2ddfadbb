"""Ingest service: authenticated, transactional loading of catalogues, products and raw index."""
