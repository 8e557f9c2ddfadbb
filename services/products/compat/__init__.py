"""ESA ISLA compatibility: the ``REQUEST=`` servlet and ``data?RETRIEVAL_TYPE=`` downloads
that astroquery's ``astroquery.esa.integral`` client sends, answered from stored products."""
