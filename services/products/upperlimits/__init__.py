"""Upper limits anywhere on the sky: ``/products/upper-limits`` (from stored sensitivity data)."""
