"""The contributed-collections room: ``/products/contributed`` (published versions only)."""
