"""DOIs of the archive's data: which objects have one, their DataCite metadata, and minting.

- :mod:`.identifiers`: the suffix scheme (``isla.raw.isgri``, ``isla.products.spectrum``,
  ``isla.rev.0081``, ``isla.product/spectrum/isgri/...``) and the DOI of a suffix;
- :mod:`.registry`: :func:`~.registry.assign_dois` registers a DOI in ``isla.dois`` for every
  collection, revolution bundle, catalogue and product the archive holds (idempotent);
- :mod:`.metadata`: a DOI's DataCite 4.5 record (JSON attributes, XML), its schema.org JSON-LD
  and its citation line, built from the row and the archive's live relations (parts,
  progenitors, papers that cite it);
- :mod:`.minting`: the pluggable DataCite client (a dry run by default, or the REST API).

Simulated data (the demo archive) always get DataCite's test prefix and say so in their
descriptions; they are never sent to DataCite.
"""
