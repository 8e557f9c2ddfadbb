"""Science products as stored data: readers of product files (OGIP and ESA ISLA layouts),
deterministic views of them (format conversion, rebinning, PNG previews), the OGIP writers and
the band conventions. No source or instrument model: that is the demo pipeline's
(:mod:`shared.demo`), which makes the demo's product files at load time.
"""
