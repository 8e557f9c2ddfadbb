"""Light curves: ``/products/lightcurves/{source_id}`` (views of stored points and series)."""
