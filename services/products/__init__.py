"""Products service: light curves, spectra, mosaics, DataLink, target resolver and web portal."""
