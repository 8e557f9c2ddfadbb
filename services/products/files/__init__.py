"""Stored product files: ``/products/files/{product_id}``, as delivered (ranges, ETag)."""
