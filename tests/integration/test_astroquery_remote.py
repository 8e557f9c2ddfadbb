"""ESA's own ISLA test file, unmodified, against this archive.

astroquery ships ``astroquery/esa/integral/tests/test_isla_remote.py``: the checks ESA runs
against its ISLA server. Here it runs in a separate pytest process whose astropy configuration
(``astroquery.cfg``, found through ``XDG_CONFIG_HOME``) points the client's ``conf`` URLs at
the test archive, which is exactly how a user points astroquery at a local ISLA.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

from tests.conftest import Archive


def _config(base: str) -> str:
    """An ``astroquery.cfg`` whose ``[esa.integral]`` URLs lead to ``base``."""
    return (
        "[esa.integral]\n"
        f"ISLA_TAP_SERVER = {base}/tap\n"
        f"ISLA_DATA_SERVER = {base}/data?\n"
        f"ISLA_LOGIN_SERVER = {base}/login\n"
        f"ISLA_LOGOUT_SERVER = {base}/logout\n"
        f"ISLA_SERVLET = {base}/tap/sync/?PHASE=RUN\n"
        f"ISLA_TARGET_RESOLVER = {base}/servlet/target-resolver?TARGET_NAME={{}}"
        "&RESOLVER_TYPE={}&FORMAT=json\n"
    )


def test_esa_isla_remote_suite_passes(archive: Archive, tmp_path: Path) -> None:
    config_home = tmp_path / "config"
    (config_home / "astropy").mkdir(parents=True)
    (config_home / "astropy" / "astroquery.cfg").write_text(_config(archive.base_url))
    suite = resources.files("astroquery.esa.integral") / "tests" / "test_isla_remote.py"
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home), HOME=str(tmp_path))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-W",
            "ignore",
            str(suite),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, f"ESA's ISLA suite: {summary}\n{run.stdout[-6000:]}"
    assert " passed" in summary and "failed" not in summary
