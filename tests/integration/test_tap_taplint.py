"""STILTS taplint, the IVOA TAP validator, against the served demo archive: every stage.

All applicable stages run (fifteen of sixteen; see :data:`ALL_STAGES`), the asynchronous
ones (QAS, UWS) and uploads (UPL) included. taplint
runs offline: it validates documents against the schemas in its own jar, and any request to
another host goes to a closed local port (a dead proxy), so a run never depends on the
network. The report is read as JSON; the test asserts no errors and at most ten warnings
(each listed in the failure message).
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Archive

pytestmark = pytest.mark.integration

ALL_STAGES = "TMV TME TMS TMC CPV CAP AVV QGE QPO QAS UWS MDQ OBS UPL EXA"
"""Every taplint 3.4 stage but LOC: ObsLocTAP describes planned observations (ivoa.obsplan),
which a finished mission does not have; taplint reports the missing table as a failure."""

MAX_WARNINGS = 10


def _offline_java_options(tap_url: str) -> list[str]:
    """JVM options that send every request not to the service under test to a closed port."""
    host = urllib.parse.urlsplit(tap_url).hostname or "127.0.0.1"
    return [
        "-Dhttp.proxyHost=127.0.0.1",
        "-Dhttp.proxyPort=9",
        "-Dhttps.proxyHost=127.0.0.1",
        "-Dhttps.proxyPort=9",
        f"-Dhttp.nonProxyHosts=localhost|127.0.0.1|::1|{host}",
        "-Dsun.net.client.defaultConnectTimeout=10000",
        "-Dsun.net.client.defaultReadTimeout=300000",
    ]


def run_taplint(tap_url: str, workdir: Path, stages: str = ALL_STAGES) -> dict[str, Any]:
    """Run taplint on ``tap_url`` and return its JSON report."""
    stilts = shutil.which("stilts")
    assert stilts, "stilts is installed by `make install-system`"
    out = subprocess.run(
        [
            stilts,
            *_offline_java_options(tap_url),
            "taplint",
            f"tapurl={tap_url}",
            "format=json",
            "maxrepeat=1000",
            f"stages={stages}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        # The stilts launcher expands its arguments unquoted: run it where no file matches.
        cwd=workdir,
    )
    try:
        report: dict[str, Any] = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"taplint produced no JSON report: {out.stderr[-2000:]}")
    return report


def _problems(report: dict[str, Any]) -> tuple[int, int, list[str]]:
    levels = {"ERROR": "E", "WARNING": "W", "FAILURE": "F"}
    lines: list[str] = []
    counts: collections.Counter[str] = collections.Counter()
    for section in report.get("sections", []):
        for item in section.get("reports", []):
            level = levels.get(item.get("level", ""))
            if level is None:
                continue
            counts[level] += 1
            text = str(item.get("text", "")).replace("\n", " ")[:300]
            lines.append(f"{level}-{section['code']}-{item.get('code')}: {text}")
    return counts["E"] + counts["F"], counts["W"], lines


@pytest.mark.timeout(900)
def test_taplint_all_stages(archive: Archive, tmp_path: Path) -> None:
    report = run_taplint(f"{archive.base_url}/tap", tmp_path)
    errors, warnings, lines = _problems(report)
    codes = {section["code"] for section in report["sections"]}
    # Every stage really ran (a stage that cannot start is missing from the report).
    assert {"TMV", "CPV", "CAP", "QGE", "QPO", "QAS", "UWS", "MDQ", "OBS", "UPL", "EXA"} <= codes
    assert errors == 0, "\n".join(lines)
    assert warnings <= MAX_WARNINGS, "\n".join(lines)
