"""Science products: the instrument model, FITS (OGIP) and PNG writers, provenance.

Shared by the demo generator (which writes light-curve points and a bounded set of product
files) and the products service (which computes the other products from the database).
"""
