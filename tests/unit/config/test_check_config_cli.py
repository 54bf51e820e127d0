"""``superd --check-config``: problems on stderr with exit 2, a one-line summary with 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_core.cli.superd import build_parser, main


def test_valid_config_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file prints OK with counts of groups, processes and included files."""
    (tmp_path / "p.ini").write_text(
        "[program:p]\ncommand=c\nnumprocs=2\nprocess_name=p%(process_num)d\n"
    )
    conf = tmp_path / "s.conf"
    conf.write_text("[supervisord]\n[program:q]\ncommand=c\n[include]\nfiles=*.ini\n")
    assert main(["--check-config", "-c", str(conf)]) == 0
    out = capsys.readouterr()
    assert out.out == f"OK: {conf}: 2 groups, 3 processes, 1 included file\n"
    assert out.err == ""


def test_bad_config_prints_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each problem is one stderr line with file:line, then a count; exit status 2."""
    conf = tmp_path / "s.conf"
    conf.write_text("[supervisord]\n[program:q]\ncommand=c\nstartsecs=x\nautostart=y\n")
    assert main(["--check-config", "-c", str(conf)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        f"{conf}:4: [program:q] startsecs: not an integer: 'x'",
        f"{conf}:5: [program:q] autostart: not a boolean "
        "(use true/false, yes/no, on/off, 1/0): 'y'",
        f"superd: 2 problems in {conf}",
    ]


def test_unknown_listener_event_type_is_a_problem_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """events= naming no type of superd's registry fails at file:line, with the other problems."""
    conf = tmp_path / "s.conf"
    conf.write_text(
        "[supervisord]\n[eventlistener:l]\ncommand=c\nevents=TICK_5,TICK_7\n"
        "[program:q]\ncommand=c\nstartsecs=x\n"
    )
    assert main(["--check-config", "-c", str(conf)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{conf}:4: [eventlistener:l] events: unknown event type: 'TICK_7'",
        f"{conf}:7: [program:q] startsecs: not an integer: 'x'",
        f"superd: 2 problems in {conf}",
    ]


def test_listener_may_name_the_installed_extensions_event_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Types the shipped extensions add (storms, journal) are valid events= names."""
    conf = tmp_path / "s.conf"
    conf.write_text(
        "[supervisord]\n[eventlistener:l]\ncommand=c\n"
        "events=PROCESS_STORM_BEGIN,STORM,SUPERVISOR_DAEMON_START\n"
    )
    assert main(["--check-config", "-c", str(conf)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


def test_without_c_uses_the_search_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no -c, supervisord.conf in the working directory is found."""
    (tmp_path / "supervisord.conf").write_text("[supervisord]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["/nonexistent/bin/superd"])
    assert main(["--check-config"]) == 0
    assert (
        capsys.readouterr().out
        == f"OK: {tmp_path}/supervisord.conf: 0 groups, 0 processes, 0 included files\n"
    )


def test_warnings_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file with warnings still exits 0 and prints them on stderr."""
    conf = tmp_path / "s.conf"
    conf.write_text("[supervisord]\n[program:q]\ncommand=c\ntypo=1\n")
    assert main(["--check-config", "-c", str(conf)]) == 0
    assert (
        capsys.readouterr().err
        == f"warning: {conf}:4: [program:q] typo: unknown option (ignored)\n"
    )


def test_supervisord_flags_are_accepted() -> None:
    """supervisord's daemon flags parse, so later code can use them."""
    args = build_parser().parse_args(
        [
            "-c",
            "f",
            "-n",
            "-u",
            "nobody",
            "-d",
            "/",
            "-l",
            "l",
            "-y",
            "1MB",
            "-z",
            "2",
            "-e",
            "debug",
            "-j",
            "p",
            "-i",
            "id",
            "-q",
            "/tmp",
            "-k",
            "-a",
            "10",
            "-t",
            "--profile_options",
            "cumulative",
            "-m",
            "022",
            "-s",
            "--minprocs",
            "5",
        ]
    )
    assert (args.configuration, args.nodaemon, args.user, args.loglevel) == (
        "f",
        True,
        "nobody",
        "debug",
    )
    assert (args.nocleanup, args.strip_ansi, args.minfds, args.profile_options) == (
        True,
        True,
        "10",
        "cumulative",
    )


def test_help_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    """superd --help prints usage and exits 0."""
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    assert "--check-config" in capsys.readouterr().out
