"""The four ISLA web services: tap, products, raw and ingest."""
