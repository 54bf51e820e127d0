"""depends_on: names resolved across the file, cycles refused, and the run-time decisions."""

from __future__ import annotations

import pytest

from supervisor_core.config import ConfigError, parse
from supervisor_core.config.dependencies import resolve
from supervisor_core.dependencies import DependencyGraph
from supervisor_core.lifecycle import ProcessState

S = ProcessState

HEAD = "[supervisord]\nlogfile=/dev/null\nchildlogdir=/tmp\n"


def programs(**depends: str) -> str:
    text = HEAD
    for name, deps in depends.items():
        text += f"[program:{name}]\ncommand=/bin/true\n"
        if deps:
            text += f"depends_on={deps}\n"
    return text


def graph_of(text: str) -> DependencyGraph:
    return DependencyGraph.of(resolve(parse(text, "/etc/s.conf").groups)[0])


def test_names_resolve_to_groups_processes_and_group_members() -> None:
    """A bare name is the group (all its processes); group:name and group:* work too."""
    text = HEAD + (
        "[program:db]\ncommand=/bin/true\nnumprocs=2\nprocess_name=db_%(process_num)s\n"
        "[program:cache]\ncommand=/bin/true\n"
        "[program:web]\ncommand=/bin/true\n"
        "[group:front]\nprograms=web\n"
        "[program:app]\ncommand=/bin/true\ndepends_on=db, cache:cache, front:*\n"
    )
    graph = graph_of(text)
    assert graph.requires["app"] == ("db:db_0", "db:db_1", "cache", "front:web")
    assert graph.required_by["front:web"] == ("app",)
    assert not graph.empty
    assert graph_of(programs(a="", b="")).empty


@pytest.mark.parametrize(
    ("depends", "message"),
    [
        ({"a": "nosuch"}, "a] depends_on: names no program, group or group:process: 'nosuch'"),
        ({"a": "a"}, "a] depends_on: a cannot depend on itself: 'a'"),
        ({"a": "b", "b": "c", "c": "a"}, "a] depends_on: dependency cycle: a -> b -> c -> a"),
    ],
)
def test_bad_dependencies_are_config_errors_naming_the_line(
    depends: dict[str, str], message: str
) -> None:
    """Unknown names, self-dependencies and cycles name depends_on at file:line."""
    text = programs(**depends)
    with pytest.raises(ConfigError) as raised:
        parse(text, "/etc/s.conf")
    line = text.splitlines().index(f"depends_on={depends['a']}") + 1
    assert f"/etc/s.conf:{line}: [program:{message}" in str(raised.value)


def test_waiting_for_lists_the_dependencies_not_running() -> None:
    """Only RUNNING (ready) dependencies let a start go ahead."""
    graph = graph_of(programs(db="", cache="", app="db, cache"))
    states = {"db": S.RUNNING, "cache": S.STARTING, "app": S.STOPPED}
    assert graph.waiting_for("app", states) == ("cache",)
    assert graph.waiting_for("app", {**states, "cache": S.RUNNING}) == ()
    assert graph.waiting_for("db", states) == ()


def test_an_explicit_start_brings_idle_dependencies_deepest_first() -> None:
    """STOPPED/EXITED dependencies come along, deepest first; FATAL ones do not."""
    graph = graph_of(programs(base="", db="base", cache="", app="db, cache"))
    states = {"base": S.STOPPED, "db": S.EXITED, "cache": S.FATAL, "app": S.STOPPED}
    assert graph.to_bring_along("app", states) == ("base", "db")
    assert graph.to_bring_along("app", {**states, "base": S.RUNNING}) == ("db",)


def test_stops_go_in_waves_dependents_first() -> None:
    """A process stops only after everything that depends on it (transitively)."""
    graph = graph_of(programs(base="", db="base", app="db", solo=""))
    assert graph.stop_waves(["base", "db", "app", "solo"]) == [["app", "solo"], ["db"], ["base"]]
    running = {"base": S.RUNNING, "db": S.RUNNING, "app": S.STOPPING, "solo": S.RUNNING}
    assert graph.running_dependents("base", running) == ("db", "app")
    assert graph.running_dependents("base", {**running, "app": S.STOPPED}) == ("db",)
