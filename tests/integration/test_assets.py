"""superd's package data (rules, dashboards, notebooks, examples, man pages, completion)
and the generated man pages and completion scripts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from supervisor_core.assets import KINDS, AssetsError, asset_files, write_assets
from supervisor_core.cli import reference, superd
from tests.peers import require_command

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_every_kind_of_asset_is_package_data() -> None:
    """The package carries the checked-in rules, dashboards, notebooks and examples."""
    paths = {str(asset.path) for asset in asset_files()}
    assert {str(p).split("/")[0] for p in paths} == set(KINDS)
    for path, checked_in in [
        (
            "grafana/dashboards/supervisor-overview.json",
            "grafana/dashboards/supervisor-overview.json",
        ),
        ("prometheus/supervisor-rules.yml", "deploy/prometheus/supervisor-rules.yml"),
        ("notebooks/restart-storm-postmortem.ipynb", "notebooks/restart-storm-postmortem.ipynb"),
        ("examples/demo/supervisord.conf", "examples/demo/supervisord.conf"),
        ("man/superd.1", "deploy/man/superd.1"),
        ("completion/superctl.bash", "deploy/completion/superctl.bash"),
    ]:
        assert path in paths
        asset = next(a for a in asset_files() if str(a.path) == path)
        assert asset.source.read_bytes() == (ROOT / checked_in).read_bytes()


def test_write_assets_makes_scripts_executable_and_refuses_to_overwrite(tmp_path: Path) -> None:
    """Written scripts are executable; a second write without force changes nothing."""
    written = write_assets(tmp_path)
    assert len(written) == len(asset_files())
    steady = tmp_path / "examples/demo/bin/steady.py"
    assert os.access(steady, os.X_OK)
    assert not os.access(tmp_path / "prometheus/supervisor-rules.yml", os.X_OK)
    steady.write_text("changed")
    with pytest.raises(AssetsError, match="already exists"):
        write_assets(tmp_path)
    assert steady.read_text() == "changed"
    write_assets(tmp_path, overwrite=True)
    assert steady.read_text() != "changed"


def test_superd_assets_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``superd assets`` lists the files; ``--write DIR`` writes them, exit 1 if present."""
    assert superd.main(["assets"]) == 0
    assert "grafana/dashboards/supervisor-overview.json" in capsys.readouterr().out.split()
    assert superd.main(["assets", "--write", str(tmp_path)]) == 0
    assert (tmp_path / "notebooks/restart-storm-postmortem.ipynb").exists()
    assert superd.main(["assets", "--write", str(tmp_path)]) == 1
    assert "use --force" in capsys.readouterr().err


def test_man_pages_and_completion_are_generated_from_the_parsers() -> None:
    """deploy/man and deploy/completion are exactly what the parsers generate today."""
    for relative, text in reference.generate().items():
        assert (ROOT / "deploy" / relative).read_text() == text, (
            f"deploy/{relative} is stale: python -m supervisor_core.cli.reference --write deploy"
        )


def test_man_pages_name_every_flag_and_command() -> None:
    """Each man page lists every option and every command of its parser, and renders."""
    superctl_page = (ROOT / "deploy/man/superctl.1").read_text()
    for action in ("status", "events", "storms", "top", "tail"):
        assert f"\\fB{action}\\fR" in superctl_page
    superd_page = (ROOT / "deploy/man/superd.1").read_text()
    for flag in ("\\-\\-check\\-config", "\\-\\-nodaemon", "\\-\\-version", "\\fBassets\\fR"):
        assert flag in superd_page
    man = require_command("man")
    rendered = subprocess.run(
        [man, "--warnings", "-l", str(ROOT / "deploy/man/superctl.1")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""},
    )
    assert "Control the programs of superd" in " ".join(rendered.stdout.split())
    assert rendered.stderr == ""


@pytest.mark.parametrize(
    ("script", "function", "line", "expected"),
    [
        ("superctl.bash", "_shtab_superctl", "superctl st", {"start", "status", "stop", "storms"}),
        ("superctl.bash", "_shtab_superctl", "superctl --ver", {"--version"}),
        ("superd.bash", "_shtab_superd", "superd --check", {"--check-config"}),
    ],
)
def test_bash_completion_completes_commands_and_flags(
    script: str, function: str, line: str, expected: set[str]
) -> None:
    """The bash completion scripts, loaded into a real bash, complete actions and flags."""
    words = line.split()
    program = (
        f"source {ROOT / 'deploy/completion' / script}; "
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
        f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; {function}; '
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    assert set(done.stdout.split()) == expected
