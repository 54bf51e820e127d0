"""The built package: wheel and sdist build, the wheel installs into a fresh venv, and
the installed superd checks the demo config and finds its assets through the package."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
# Every step is bounded; pip may fetch from its cache or the configured index.
STEP_TIMEOUT = 600


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done.stdout


ASSETS = [
    "grafana/dashboards/supervisor-overview.json",
    "prometheus/supervisor-rules.yml",
    "notebooks/restart-storm-postmortem.ipynb",
    "examples/demo/supervisord.conf",
    "man/superctl.1",
    "completion/superctl.bash",
]


def test_wheel_in_a_fresh_venv_runs_the_demo_check_and_finds_the_assets(tmp_path: Path) -> None:
    """python -m build makes both; a fresh venv with only the wheel runs superd."""
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, ROOT, cwd=tmp_path)
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for asset in ASSETS:
        assert f"supervisor_core/assets/{asset}" in names, asset
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[-1] for m in archive.getmembers() if "/" in m.name}
        links = [m.name for m in archive.getmembers() if m.issym()]
    assert "deploy/systemd/superd.service" in members
    assert "grafana/dashboards/supervisor-overview.json" in members
    assert "supervisor_core/assets/grafana/dashboards/supervisor-overview.json" in members
    assert not links  # assets are copies in the sdist, not links out of the package

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel)
    superd = venv / "bin" / "superd"
    assert run(superd, "--version").startswith("superd ")

    # From a directory outside the checkout, so nothing can come from the source tree.
    found = json.loads(
        run(
            python,
            "-c",
            "import json, supervisor_core.assets as a, supervisor_core as c; "
            "print(json.dumps([c.__file__, [str(x.path) for x in a.asset_files()]]))",
            cwd=tmp_path,
        )
    )
    assert found[0].startswith(str(venv))
    for asset in ASSETS:
        assert asset in found[1]

    out = tmp_path / "assets"
    run(superd, "assets", "--write", out, cwd=tmp_path)
    (out / "demo-run").mkdir()  # the demo writes to ../../demo-run from its config
    check = run(superd, "--check-config", "-c", out / "examples/demo/supervisord.conf")
    assert check.startswith("OK: ")
    rules = (out / "prometheus/supervisor-rules.yml").read_text()
    assert rules == (ROOT / "deploy/prometheus/supervisor-rules.yml").read_text()
    notebook = json.loads((out / "notebooks/restart-storm-postmortem.ipynb").read_text())
    assert notebook["cells"]
