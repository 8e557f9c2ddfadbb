"""Mosaics: ``/products/mosaics`` (stored mosaic files, and previews rendered from them)."""
