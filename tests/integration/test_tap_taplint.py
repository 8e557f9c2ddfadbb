"""STILTS taplint, the IVOA TAP validator, against the served demo archive.

Every stage that applies to what the service offers today runs, including ObsCore (OBS) and
the DALI examples (EXA), which the capabilities declare; the asynchronous stages (QAS, UWS)
wait for /tap/async, and the upload stage for UPLOAD.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import Archive

pytestmark = pytest.mark.integration

SYNC_STAGES = "TMV TME TMS TMC CAP AVV QGE QPO MDQ OBS UPL EXA"
"""taplint stages that do not need asynchronous jobs."""


def test_taplint_reports_no_errors(archive: Archive) -> None:
    stilts = shutil.which("stilts")
    assert stilts, "stilts is installed by `make install-system`"
    out = subprocess.run(
        [
            stilts,
            "taplint",
            f"tapurl={archive.base_url}/tap",
            "report=EW",
            f"stages={SYNC_STAGES}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    ).stdout
    totals = re.search(r"Totals: Errors: (\d+); Warnings: (\d+)", out)
    assert totals, out[-2000:]
    problems = [line for line in out.splitlines() if line.startswith(("E-", "W-"))]
    assert int(totals.group(1)) == 0, "\n".join(problems)
    assert int(totals.group(2)) == 0, "\n".join(problems)
