"""deploy/container: the Containerfile's instructions are sound, and its ENTRYPOINT,
HEALTHCHECK and STOPSIGNAL do what they say on the example config, with superd as PID 1.

No container engine is available to the tests: the recipe is linted by parsing it, and
its behaviour is checked by running the same commands in a new PID namespace
(``unshare --pid``), which is what makes superd PID 1 in a container too.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.superd_harness import DEADLINE, wait_for
from tests.integration.test_orphans import Pid1Superd, unshare_or_skip
from tests.integration.test_superd_extensions import free_port, get

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "deploy/container/Containerfile"
EXAMPLE = ROOT / "deploy/container/supervisord.conf"
VENV_BIN = "/opt/superd/bin/"


@dataclass(frozen=True)
class Instruction:
    """One Containerfile instruction: its keyword, its arguments, the stage it is in."""

    keyword: str
    arguments: str
    stage: int


def instructions() -> list[Instruction]:
    """The recipe's instructions, continuation lines joined, comments dropped."""
    result: list[Instruction] = []
    pending = ""
    stage = -1
    for raw in RECIPE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        result.append(Instruction(keyword.upper(), arguments.strip(), stage))
    assert not pending, "the recipe ends in a continuation line"
    return result


def final(keyword: str) -> Instruction:
    """The last ``keyword`` instruction of the final stage (the one that counts)."""
    found = [i for i in instructions() if i.keyword == keyword]
    assert found, f"no {keyword}"
    last_stage = max(i.stage for i in instructions())
    assert found[-1].stage == last_stage, f"{keyword} is not in the final stage"
    return found[-1]


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of an exec-form instruction (fails on the shell form)."""
    text = instruction.arguments.removeprefix("CMD").strip()
    if instruction.keyword == "HEALTHCHECK":
        text = text.split(" CMD ", 1)[1].strip()
    argv = json.loads(text)
    assert isinstance(argv, list), text
    assert all(isinstance(a, str) for a in argv), text
    return argv


def test_every_instruction_is_known_and_every_copied_path_exists() -> None:
    """Only Containerfile keywords; each COPY from the build context names a file or
    directory of the repository, and the one from the wheel stage names its output."""
    known = {
        "ARG", "FROM", "RUN", "WORKDIR", "COPY", "ENV", "USER", "EXPOSE",
        "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT",
    }  # fmt: skip
    every = instructions()
    assert {i.keyword for i in every} <= known
    assert [i.arguments.split()[0] for i in every if i.keyword == "FROM"] == [
        "${DEBIAN_IMAGE}",
        "${DEBIAN_IMAGE}",
    ]
    copies = [i for i in every if i.keyword == "COPY"]
    assert copies
    for copy in copies:
        parts = shlex.split(copy.arguments)
        if parts[0].startswith("--from="):
            assert parts[1:] == ["/dist/", "/tmp/dist/"]  # the wheel stage's --outdir
            continue
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    build = next(i for i in every if i.keyword == "RUN" and "-m build" in i.arguments)
    assert "--outdir /dist" in build.arguments


def test_the_wheel_stage_copies_everything_the_package_links_to() -> None:
    """supervisor_core/assets' links point into trees the wheel stage copies, so the
    wheel built in the image carries the same assets as the one built here."""
    copied = {
        source.rstrip("/")
        for i in instructions()
        if i.keyword == "COPY" and i.stage == 0
        for source in shlex.split(i.arguments)[:-1]
    }
    assets = ROOT / "supervisor_core/assets"
    links = [path for path in assets.rglob("*") if path.is_symlink()]
    assert links
    for link in links:
        target = link.resolve().relative_to(ROOT)
        assert target.parts[0] in copied, f"{link} -> {target} is not copied"


def test_entrypoint_runs_superd_in_the_foreground_on_the_copied_config() -> None:
    """ENTRYPOINT is exec form (superd itself is PID 1, no shell in between), in the
    foreground, on the config the recipe copies in; the image runs as a non-root user."""
    argv = exec_form(final("ENTRYPOINT"))
    assert argv[0] == VENV_BIN + "superd"
    assert "-n" in argv
    config = argv[argv.index("-c") + 1]
    copy = next(
        i for i in instructions() if i.keyword == "COPY" and i.arguments.endswith(" " + config)
    )
    assert shlex.split(copy.arguments)[0] == str(EXAMPLE.relative_to(ROOT))
    user = final("USER").arguments.split(":")[0]
    assert user not in ("root", "0")
    assert final("STOPSIGNAL").arguments == "SIGTERM"
    assert signal.SIGTERM in _daemon_signals()
    healthcheck = exec_form(final("HEALTHCHECK"))
    assert healthcheck[0] == VENV_BIN + "superctl"
    assert healthcheck[healthcheck.index("-c") + 1] == config
    port = re.search(r"^listen = \*:(\d+)", EXAMPLE.read_text(), re.MULTILINE)
    assert port is not None
    assert final("EXPOSE").arguments == port.group(1)


def _daemon_signals() -> tuple[signal.Signals, ...]:
    from supervisor_core.daemon import DAEMON_SIGNALS

    return DAEMON_SIGNALS


def local_example(tmp: Path, port: int) -> str:
    """The example config with its absolute paths moved under ``tmp`` (and the metrics
    listener on a free loopback port): the same file a container would run."""
    for directory in ("run", "log", "conf.d"):
        (tmp / directory).mkdir()
    (tmp / "conf.d/extra.conf").write_text(
        "[program:extra]\ncommand = /bin/sh -c 'echo extra here; exec sleep infinity'\n"
        "stdout_logfile = /dev/stdout\nstdout_logfile_maxbytes = 0\n"
    )
    return (
        EXAMPLE.read_text()
        .replace("/run/superd/", f"{tmp}/run/")
        .replace("/var/log/superd", f"{tmp}/log")
        .replace("/etc/supervisor/conf.d/", f"{tmp}/conf.d/")
        .replace("listen = *:9101", f"listen = 127.0.0.1:{port}")
    )


def container_commands(tmp: Path) -> tuple[list[str], list[str]]:
    """ENTRYPOINT and HEALTHCHECK as the recipe writes them, on this venv and ``tmp``'s config."""
    venv = str(Path(sys.executable).parent) + "/"
    config = str(tmp / "supervisord.conf")

    def local(argv: list[str]) -> list[str]:
        argv = [venv + a.removeprefix(VENV_BIN) if a.startswith(VENV_BIN) else a for a in argv]
        argv[argv.index("-c") + 1] = config
        return argv

    return local(exec_form(final("ENTRYPOINT"))), local(exec_form(final("HEALTHCHECK")))


def health(command: list[str]) -> int:
    """The HEALTHCHECK's exit status now."""
    return subprocess.run(command, capture_output=True, timeout=DEADLINE, check=False).returncode


def test_the_recipe_s_commands_run_the_example_as_pid_1(tmp_path: Path) -> None:
    """The ENTRYPOINT on the example config, as PID 1: its programs (and conf.d's) run with
    their output on superd's stdout, /metrics answers, the HEALTHCHECK passes (also with
    a program stopped, where ``superctl status`` exits 3); the STOPSIGNAL stops the
    programs and superd exits 0, after which the HEALTHCHECK exits 7."""
    unshare = unshare_or_skip()
    port = free_port()
    entrypoint, healthcheck = container_commands(tmp_path)
    superd = Pid1Superd(
        tmp_path,
        local_example(tmp_path, port),
        unshare,
        command=entrypoint,
        socket=tmp_path / "run/superd.sock",
    )
    try:
        wait_for(lambda: health(healthcheck) == 0, "the HEALTHCHECK passes")
        superd.wait_states({"hello": "RUNNING", "extra": "RUNNING"})
        wait_for(
            lambda: (
                "hello from a program of superd" in superd.stdout_text()
                and "extra here" in superd.stdout_text()
            ),
            "the programs' output on superd's stdout",
        )
        assert "running as PID 1: reaping orphaned processes" in superd.stdout_text()
        assert "supervisor_process_up{" in get(f"http://127.0.0.1:{port}/metrics")

        # A stopped program does not make the container unhealthy; `status` would.
        superd.call("stopProcess", "extra")
        assert health(healthcheck) == 0
        status = [healthcheck[0], "-c", str(tmp_path / "supervisord.conf"), "status"]
        assert health(status) == 3

        superd.send(signal.Signals[final("STOPSIGNAL").arguments])
        assert superd.wait_exit() == 0
        log = superd.stdout_text()
        assert "stopped: hello (terminated by SIGTERM)" in log
        assert health(healthcheck) == 7  # superctl: the daemon cannot be reached
    finally:
        superd.close()


def test_the_wheel_carries_the_example_config_s_needs() -> None:
    """What the image's venv runs comes from the wheel: the ENTRYPOINT and HEALTHCHECK
    commands are the wheel's console scripts."""
    scripts = _console_scripts()
    assert Path(exec_form(final("ENTRYPOINT"))[0]).name in scripts
    assert Path(exec_form(final("HEALTHCHECK"))[0]).name in scripts


def _console_scripts() -> set[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["scripts"])
