"""deploy/container: the Containerfile's instructions are sound, and its ENTRYPOINT,
HEALTHCHECK and STOPSIGNAL do what they say on the example config, with superd as PID 1.

No container engine is available to the tests: the recipe is linted by parsing it, and
its behaviour is checked by running the same commands in a new PID namespace
(``unshare --pid``), which is what makes superd PID 1 in a container too.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.superd_harness import DEADLINE, wait_for
from tests.integration.test_orphans import Pid1Superd, unshare_or_skip
from tests.integration.test_superd_extensions import free_port, get
from tests.peers import require_module

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "deploy/container/Containerfile"
EXAMPLE = ROOT / "deploy/container/supervisord.conf"
VENV_BIN = "/opt/superd/bin/"


@dataclass(frozen=True)
class Instruction:
    """One Containerfile instruction as BuildKit parses it, and the stage it is in."""

    keyword: str
    flags: tuple[str, ...]
    values: tuple[str, ...]
    exec_form: bool
    stage: int


def instructions() -> list[Instruction]:
    """The recipe through BuildKit's own parser (the ``dockerfile`` package)."""
    dockerfile = require_module("dockerfile")
    result: list[Instruction] = []
    stage = -1
    for command in dockerfile.parse_file(str(RECIPE)):
        keyword = str(command.cmd).upper()
        if keyword == "FROM":
            stage += 1
        result.append(
            Instruction(
                keyword=keyword,
                flags=tuple(command.flags),
                values=tuple(command.value),
                exec_form=bool(command.json),
                stage=stage,
            )
        )
    return result


def final(keyword: str) -> Instruction:
    """The last ``keyword`` instruction of the final stage (the one that counts)."""
    every = instructions()
    found = [i for i in every if i.keyword == keyword]
    assert found, f"no {keyword}"
    assert found[-1].stage == max(i.stage for i in every), f"{keyword} is not in the last stage"
    return found[-1]


def exec_form(instruction: Instruction) -> list[str]:
    """The argv of an exec-form (JSON array) instruction; fails on the shell form."""
    assert instruction.exec_form, f"{instruction.keyword} is in shell form: {instruction.values}"
    values = list(instruction.values)
    if instruction.keyword == "HEALTHCHECK":
        assert values[0] == "CMD"
        values = values[1:]
    return values


def test_every_instruction_is_known_and_every_copied_path_exists() -> None:
    """Only Containerfile keywords; each COPY from the build context names a file or
    directory of the repository, and the one from the wheel stage names its output."""
    known = {
        "ARG", "FROM", "RUN", "WORKDIR", "COPY", "ENV", "USER", "EXPOSE",
        "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT",
    }  # fmt: skip
    every = instructions()
    assert {i.keyword for i in every} <= known
    assert [i.values for i in every if i.keyword == "FROM"] == [
        ("${DEBIAN_IMAGE}", "AS", "wheel"),
        ("${DEBIAN_IMAGE}",),
    ]
    copies = [i for i in every if i.keyword == "COPY"]
    assert copies
    for copy in copies:
        if copy.flags:
            assert copy.flags == ("--from=wheel",)
            assert copy.values == ("/dist/", "/tmp/dist/")  # the wheel stage's --outdir
            continue
        for source in copy.values[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    build = next(i for i in every if i.keyword == "RUN" and "-m build" in i.values[0])
    assert "--outdir /dist" in build.values[0]


def test_the_wheel_stage_copies_everything_the_package_links_to() -> None:
    """supervisor_core/assets' links point into trees the wheel stage copies, so the
    wheel built in the image carries the same assets as the one built here."""
    copied = {
        source.rstrip("/")
        for i in instructions()
        if i.keyword == "COPY" and i.stage == 0
        for source in i.values[:-1]
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
    copy = next(i for i in instructions() if i.keyword == "COPY" and i.values[-1] == config)
    assert copy.values[:-1] == (str(EXAMPLE.relative_to(ROOT)),)
    user = final("USER").values[0].split(":")[0]
    assert user not in ("root", "0")
    assert final("STOPSIGNAL").values == ("SIGTERM",)
    assert signal.SIGTERM in _daemon_signals()
    healthcheck = exec_form(final("HEALTHCHECK"))
    assert healthcheck[0] == VENV_BIN + "superctl"
    assert healthcheck[healthcheck.index("-c") + 1] == config
    port = re.search(r"^listen = \*:(\d+)", EXAMPLE.read_text(), re.MULTILINE)
    assert port is not None
    assert final("EXPOSE").values == (port.group(1),)


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

        superd.send(signal.Signals[final("STOPSIGNAL").values[0]])
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


def test_the_example_config_loads_as_shipped_with_an_empty_conf_d(tmp_path: Path) -> None:
    """The image ships an empty /etc/supervisor/conf.d: the example config is valid then."""
    text = local_example(tmp_path, free_port())
    (tmp_path / "conf.d/extra.conf").unlink()
    config = tmp_path / "supervisord.conf"
    config.write_text(text)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "superd"), "--check-config", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK: {config}: 1 group, 1 process, 0 included files")
