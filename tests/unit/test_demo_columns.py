"""The demo generator's column-wise shortcuts agree with the row-by-row rules they replace."""

from __future__ import annotations

import numpy as np

from shared.demo.generator import (
    _ISGRI_SHAPE,
    _JEMX_SHAPE,
    _SPI_SHAPE,
    _footprint,
    _footprints,
    _frame,
    _source_ids,
    _texts,
    _tsv,
)
from shared.integral.ids import source_id_from_position


def test_source_ids_of_many_positions_match_one_by_one() -> None:
    rng = np.random.default_rng(7)
    ra = np.round(rng.uniform(0.0, 360.0, 20_000), 5)
    dec = np.round(np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, 20_000))), 5)
    # Edges: RA wrapping to 0h, a declination that rounds to -0, the Crab.
    ra = np.concatenate([ra, [359.99999, 0.0, 83.6332]])
    dec = np.concatenate([dec, [-0.0001, 90.0, 22.0145]])
    expected = [
        source_id_from_position(a, d) for a, d in zip(ra.tolist(), dec.tolist(), strict=True)
    ]
    assert _source_ids(ra, dec.astype(np.float64)) == expected
    assert expected[-1] == "J053432.0+220052"


def test_footprints_in_one_pass_are_the_three_footprints() -> None:
    for ra, dec, pa in ((83.63, 22.01, 10.0), (0.2, -89.5, 271.0), (359.9, 45.0, 180.0)):
        frame = _frame(ra, dec, pa)
        assert _footprints(frame) == tuple(
            _footprint(frame, shape) for shape in (_ISGRI_SHAPE, _JEMX_SHAPE, _SPI_SHAPE)
        )


def test_copy_text_reads_back_exactly() -> None:
    values = np.array([0.1, 1 / 3, 1e-7, 12345.678901234])
    texts = _texts(values)
    assert [float(t) for t in texts] == values.tolist()
    assert _texts(np.array([True, False])) == ["t", "f"]
    assert _tsv([["a", "b"], texts[:2]]) == f"a\t{texts[0]}\nb\t{texts[1]}\n".encode()
