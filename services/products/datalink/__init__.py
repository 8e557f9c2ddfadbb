"""DataLink 1.1: ``/datalink`` links of science windows and products, with VOSI resources."""
