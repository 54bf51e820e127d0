"""Reload as data: which groups a new configuration adds, changes and removes.

This is what supervisord's ``reread`` reports and ``update`` acts on
(``diff_to_active``): groups are matched by name; a group whose meaning changed is
"changed" (supervisorctl update stops and restarts it). Where a key was written
(``origin``) is not meaning: moving a section or adding a comment changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from supervisor_core.config.model import Config, GroupConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigDiff:
    """Groups of the new config that are new or changed, and old groups that are gone.

    ``added`` and ``changed`` hold the new configs, ``removed`` the old ones; each
    keeps the order of the config it came from.
    """

    added: tuple[GroupConfig, ...] = ()
    changed: tuple[GroupConfig, ...] = ()
    removed: tuple[GroupConfig, ...] = ()

    def __bool__(self) -> bool:
        """True when anything differs."""
        return bool(self.added or self.changed or self.removed)


def without_origins(group: GroupConfig) -> GroupConfig:
    """``group`` with every ``origin`` cleared, for comparing meaning only."""
    processes = tuple(replace(p, origin=None) for p in group.processes)
    return replace(group, origin=None, processes=processes)


def diff_configs(old: Config, new: Config) -> ConfigDiff:
    """Compare the groups of ``old`` (running) and ``new`` (just read) configs."""
    old_groups = {g.name: g for g in old.groups}
    new_groups = {g.name: g for g in new.groups}
    added = tuple(g for g in new.groups if g.name not in old_groups)
    removed = tuple(g for g in old.groups if g.name not in new_groups)
    changed = tuple(
        g
        for g in new.groups
        if g.name in old_groups and without_origins(g) != without_origins(old_groups[g.name])
    )
    return ConfigDiff(added=added, changed=changed, removed=removed)
