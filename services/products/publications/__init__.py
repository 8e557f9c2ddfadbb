"""The literature survey as data: papers and the data they used (``/products/publications``)."""
