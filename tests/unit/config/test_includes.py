"""[include]: globs relative to the main file, sorted, nested includes ignored like 4.3."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_core.config import ConfigError, load


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (creating directories) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_globs_are_relative_to_the_main_file_and_read_sorted(tmp_path: Path) -> None:
    """Each pattern is joined to the main file's directory; matches are read in order."""
    main = write(
        tmp_path / "etc" / "supervisord.conf",
        "[supervisord]\n[include]\nfiles = conf.d/*.ini  extra/one.conf\n",
    )
    write(tmp_path / "etc" / "conf.d" / "b.ini", "[program:b]\ncommand=%(here)s/b\n")
    write(tmp_path / "etc" / "conf.d" / "a.ini", "[program:a]\ncommand=%(here)s/a\n")
    write(tmp_path / "etc" / "extra" / "one.conf", "[program:a]\npriority=3\n")
    config = load(str(main), environ={})
    assert config.included_files == (
        f"{tmp_path}/etc/conf.d/a.ini",
        f"{tmp_path}/etc/conf.d/b.ini",
        f"{tmp_path}/etc/extra/one.conf",
    )
    commands = {p.name: (p.command, p.priority) for p in config.processes()}
    assert commands == {
        "a": (f"{tmp_path}/etc/conf.d/a", 3),
        "b": (f"{tmp_path}/etc/conf.d/b", 999),
    }
    process_a = config.processes()[0]
    assert str(process_a.key_origins["priority"]) == f"{tmp_path}/etc/extra/one.conf:2"


def test_nested_include_is_ignored_with_a_warning(tmp_path: Path) -> None:
    """An [include] inside an included file is not followed (supervisord 4.3 reads it once)."""
    main = write(tmp_path / "s.conf", "[supervisord]\n[include]\nfiles=a.ini\n")
    write(tmp_path / "a.ini", "[include]\nfiles=b.ini\n[program:a]\ncommand=c\n")
    write(tmp_path / "b.ini", "[program:b]\ncommand=c\n")
    config = load(str(main), environ={})
    assert [p.name for p in config.processes()] == ["a"]
    assert any("[include] in an included file is ignored" in w for w in config.warnings)


def test_unmatched_pattern_warns(tmp_path: Path) -> None:
    """A pattern matching nothing is a warning at the files= line, as supervisord warns."""
    main = write(tmp_path / "s.conf", "[supervisord]\n[include]\nfiles=none/*.ini\n")
    config = load(str(main), environ={})
    assert config.warnings == (f"{main}:3: [include] no file matches '{tmp_path}/none/*.ini'",)


def test_include_patterns_expand_here_and_env(tmp_path: Path) -> None:
    """files= expands %(here)s and %(ENV_X)s; absolute patterns stay absolute."""
    write(tmp_path / "d" / "x.ini", "[program:x]\ncommand=c\n")
    main = write(tmp_path / "etc" / "s.conf", "[supervisord]\n[include]\nfiles=%(ENV_D)s/*.ini\n")
    config = load(str(main), environ={"D": str(tmp_path / "d")})
    assert [p.name for p in config.processes()] == ["x"]


def test_problems_in_included_files_name_that_file(tmp_path: Path) -> None:
    """A bad value in an included file is reported with the included file's line."""
    main = write(tmp_path / "s.conf", "[supervisord]\n[include]\nfiles=*.ini\n")
    bad = write(tmp_path / "bad.ini", "\n[program:x]\ncommand=c\nstartsecs=soon\n")
    with pytest.raises(ConfigError) as caught:
        load(str(main), environ={})
    assert [str(p) for p in caught.value.problems] == [
        f"{bad}:4: [program:x] startsecs: not an integer: 'soon'"
    ]


def test_unreadable_included_file_warns(tmp_path: Path) -> None:
    """A glob match that cannot be read (a directory) is skipped with a warning."""
    (tmp_path / "dir.ini").mkdir()
    main = write(tmp_path / "s.conf", "[supervisord]\n[include]\nfiles=*.ini\n")
    config = load(str(main), environ={})
    assert config.included_files == ()
    assert len(config.warnings) == 1
    assert "cannot read" in config.warnings[0]


def test_missing_main_file(tmp_path: Path) -> None:
    """A main file that cannot be read is one problem naming it."""
    with pytest.raises(ConfigError) as caught:
        load(str(tmp_path / "nope.conf"))
    assert str(caught.value) == (
        f"{tmp_path}/nope.conf:1: cannot read file: No such file or directory"
    )


def test_undecodable_main_file(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a problem, not a crash."""
    path = tmp_path / "s.conf"
    path.write_bytes(b"[supervisord]\n\xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    assert "not UTF-8 text" in str(caught.value)
