"""Reload as a diff of groups: added, changed and removed, origins ignored."""

from __future__ import annotations

from supervisor_core.config import diff_configs, parse

BASE = "[supervisord]\n[program:a]\ncommand=a\n[program:b]\ncommand=b\n[program:c]\ncommand=c\n"


def test_identical_configs_have_no_diff() -> None:
    """The same text parsed twice is no change."""
    diff = diff_configs(parse(BASE, "/s.conf", environ={}), parse(BASE, "/s.conf", environ={}))
    assert not diff
    assert (diff.added, diff.changed, diff.removed) == ((), (), ())


def test_moved_lines_and_comments_are_not_changes() -> None:
    """Only meaning counts: blank lines and comments shift origins but change nothing."""
    moved = "; comment\n\n" + BASE.replace("[program:b]", "\n[program:b]")
    assert not diff_configs(parse(BASE, "/s.conf", environ={}), parse(moved, "/s.conf", environ={}))


def test_added_changed_removed() -> None:
    """New groups are added, changed options make a group changed, missing ones are removed."""
    new = "[supervisord]\n[program:a]\ncommand=a2\n[program:b]\ncommand=b\n[program:d]\ncommand=d\n"
    diff = diff_configs(parse(BASE, "/s.conf", environ={}), parse(new, "/s.conf", environ={}))
    assert [g.name for g in diff.added] == ["d"]
    assert [g.name for g in diff.changed] == ["a"]
    assert diff.changed[0].processes[0].command == "a2"
    assert [g.name for g in diff.removed] == ["c"]
    assert diff


def test_group_membership_change_is_a_change() -> None:
    """Moving a program into a [group:x] removes its own group and adds the new one."""
    new = BASE + "[group:g]\nprograms=a\n"
    diff = diff_configs(parse(BASE, "/s.conf", environ={}), parse(new, "/s.conf", environ={}))
    assert [g.name for g in diff.added] == ["g"]
    assert [g.name for g in diff.removed] == ["a"]


def test_priority_and_environment_changes_are_changes() -> None:
    """Group priority and a process's environment are part of a group's meaning."""
    old = parse(BASE, "/s.conf", environ={})
    prio = parse(BASE.replace("command=b", "command=b\npriority=5"), "/s.conf", environ={})
    env = parse("[supervisord]\nenvironment=X=1\n" + BASE[14:], "/s.conf", environ={})
    assert [g.name for g in diff_configs(old, prio).changed] == ["b"]
    assert [g.name for g in diff_configs(old, env).changed] == ["a", "b", "c"]
