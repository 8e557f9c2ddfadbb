"""The all-sky maps room: ``/products/maps`` (maps, their values at positions) and ``/hips``
(their HiPS)."""
