"""``%(...)s`` expansions: the names supervisord offers, where it offers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_core.config import ConfigError, parse
from supervisor_core.config.expand import expand


def test_expand_uses_percent_formatting() -> None:
    """Padding, %% and %d behave as Python's % with a mapping."""
    assert expand("%(n)02d-%(s)s-100%%", {"n": 7, "s": "x"}) == "07-x-100%"


def test_unknown_name_is_reported_with_the_available_ones() -> None:
    """An unknown name is a ValueError that lists what exists."""
    with pytest.raises(ValueError) as caught:
        expand("%(nope)s", {"a": 1, "b": 2})
    assert str(caught.value) == "unknown expansion %(nope)s (available: a, b)"


def test_bad_format_is_reported() -> None:
    """A dangling % is a ValueError saying the format is bad."""
    with pytest.raises(ValueError) as caught:
        expand("50%", {})
    assert str(caught.value).startswith("badly formatted expansion")


def process(text: str, **kwargs: object) -> list[tuple[str, str, dict[str, str]]]:
    """(name, command, environment) of every process of ``text``."""
    config = parse(text, "/etc/sv/s.conf", host_node_name="node1", **kwargs)  # type: ignore[arg-type]
    return [(p.name, p.command, dict(p.environment)) for p in config.processes()]


def test_program_expansions() -> None:
    """here, program_name, group_name, process_num, numprocs, host_node_name, ENV_X, %%."""
    text = (
        "[supervisord]\n[program:p]\nnumprocs=2\nprocess_name=%(program_name)s_%(process_num)02d\n"
        "command=run %(here)s %(program_name)s %(group_name)s %(process_num)d/%(numprocs)d "
        "%(host_node_name)s %(ENV_HOME)s 5%%\n"
    )
    assert process(text, environ={"HOME": "/h"}) == [
        ("p_00", "run /etc/sv p p 0/2 node1 /h 5%", {}),
        ("p_01", "run /etc/sv p p 1/2 node1 /h 5%", {}),
    ]


def test_env_from_supervisord_and_own_environment() -> None:
    """[supervisord] environment and the program's own environment are ENV_X names."""
    text = (
        "[supervisord]\nenvironment=G=global,HOME=over\n"
        '[program:p]\nenvironment=L="local-%(process_num)d"\n'
        "command=run %(ENV_G)s %(ENV_L)s %(ENV_HOME)s\n"
    )
    assert process(text, environ={"HOME": "/h"}) == [
        ("p", "run global local-0 over", {"G": "global", "HOME": "over", "L": "local-0"})
    ]


def test_group_name_is_the_heterogeneous_group() -> None:
    """Inside a [group:x], %(group_name)s is x, not the program's name."""
    text = "[supervisord]\n[group:g]\nprograms=p\n[program:p]\ncommand=%(group_name)s\n"
    assert process(text, environ={}) == [("p", "g", {})]


def test_process_num_is_not_available_to_section_wide_options() -> None:
    """priority is read once per section, so %(process_num)s there is unknown."""
    text = "[supervisord]\n[program:p]\ncommand=c\npriority=%(process_num)s\n"
    with pytest.raises(ConfigError) as caught:
        parse(text, "/s.conf", environ={})
    assert str(caught.value).startswith(
        "/s.conf:4: [program:p] priority: unknown expansion %(process_num)s (available: "
    )


def test_supervisord_options_see_env_and_here(tmp_path: Path) -> None:
    """[supervisord] options expand %(here)s and %(ENV_X)s."""
    text = "[supervisord]\nlogfile=%(here)s/%(ENV_NAME)s.log\n"
    config = parse(text, str(tmp_path / "s.conf"), environ={"NAME": "daemon"})
    assert config.supervisord.logfile == f"{tmp_path}/daemon.log"


def test_logfile_is_expanded_twice_like_supervisord() -> None:
    """*_logfile goes through expansion twice, so a literal % needs %%%% there."""
    text = "[supervisord]\n[program:p]\ncommand=c\nstdout_logfile=/tmp/a%%%%b.log\n"
    config = parse(text, "/s.conf", environ={})
    assert config.processes()[0].stdout.logfile == "/tmp/a%b.log"
