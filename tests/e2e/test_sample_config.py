"""``superd --sample-config`` (its echo_supervisord_conf) against superd and the real supervisord.

The sample must load in both daemons as printed, and again with every commented-out
option and section switched on, so that no example in it is wrong for either.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor_core.cli.sample_config import SAMPLE_CONFIG
from supervisor_core.config import load
from supervisor_core.config.programs import EVENTLISTENER_OPTIONS, PROGRAM_OPTIONS
from supervisor_core.config.sections import SUPERVISORD_OPTIONS
from tests.peers import require_command, require_module

pytestmark = pytest.mark.e2e

SECTION = re.compile(r"^;?(\[[^\]]+\])")
OPTION = re.compile(r"^;?([a-z_.]+) ?=")

# supervisord's own loader, run as a separate process: exit 2 with its usage text on
# any problem, else the group names it built and its parse warnings as JSON.
SUPERVISORD_LOAD = """\
import json, sys
from supervisor.options import ServerOptions
options = ServerOptions()
options.realize(["-c", sys.argv[1]])
print(json.dumps({
    "groups": sorted(g.name for g in options.process_group_configs),
    "warnings": options.parse_warnings,
}))
"""


def superd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_command("superd"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def uncommented(text: str) -> str:
    """``text`` with every commented section header and option switched on.

    Of an option shown twice in one section (``serverurl``), the first is kept.
    """
    lines: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        if SECTION.match(line):
            seen = set()
            lines.append(line.lstrip(";"))
        elif match := OPTION.match(line):
            if match[1] not in seen:
                seen.add(match[1])
                lines.append(line.lstrip(";"))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def sections(text: str) -> dict[str, set[str]]:
    """Section header -> the option names shown in it, commented or not."""
    found: dict[str, set[str]] = {}
    current: set[str] = set()
    for line in text.splitlines():
        if header := SECTION.match(line):
            current = found.setdefault(header[1], set())
        elif option := OPTION.match(line):
            current.add(option[1])
    return found


def test_sample_config_is_printed() -> None:
    """``superd --sample-config`` prints the sample on stdout and exits 0."""
    result = superd("--sample-config")
    assert (result.returncode, result.stdout, result.stderr) == (0, SAMPLE_CONFIG, "")


@pytest.mark.parametrize("variant", ["as printed", "uncommented"])
def test_sample_loads_in_superd_and_in_supervisord(tmp_path: Path, variant: str) -> None:
    """The sample passes ``superd --check-config`` and supervisord's loader, with equal groups."""
    require_module("supervisor")
    text = superd("--sample-config").stdout
    if variant == "uncommented":
        text = uncommented(text)
    path = tmp_path / "supervisord.conf"
    path.write_text(text)

    checked = superd("--check-config", "-c", str(path))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"OK: {path}")
    reference = subprocess.run(
        [sys.executable, "-c", SUPERVISORD_LOAD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert reference.returncode == 0, reference.stderr
    loaded = json.loads(reference.stdout)
    assert loaded["groups"] == sorted(group.name for group in load(str(path)).groups)
    if variant == "as printed":
        assert loaded == {"groups": [], "warnings": []}
        assert checked.stderr == ""
    else:
        assert loaded["groups"] == ["theeventlistenername", "thegroupname"]
        assert all(w.startswith("No file matches via include") for w in loaded["warnings"])


def test_sample_shows_every_option_superd_reads() -> None:
    """Every [supervisord], [program:x] and [eventlistener:x] option appears in the sample."""
    shown = sections(SAMPLE_CONFIG)
    assert shown["[supervisord]"] >= SUPERVISORD_OPTIONS
    assert shown["[program:theprogramname]"] >= PROGRAM_OPTIONS
    listener_only = EVENTLISTENER_OPTIONS - PROGRAM_OPTIONS
    assert shown["[eventlistener:theeventlistenername]"] >= listener_only
    assert {"[exporter:journal]", "[exporter:prometheus]", "[exporter:storms]"} <= set(shown)
    assert "[exporter:otel]" in shown
