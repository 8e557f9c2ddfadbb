"""Source pages: ``/products/sources/{source_id}`` (what the archive holds about a source)."""
