"""supervisord.conf -> typed, frozen config objects (see ``model``).

Entry points: :func:`load` (a file and its includes), :func:`parse` (text),
:func:`diff_configs` (reload), :func:`find_config` (supervisord's search path).
Every problem of a bad file comes out at once in one :class:`ConfigError`.
"""

from supervisor_core.config.diff import ConfigDiff, diff_configs
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.loader import DiskFiles, FileSource, load, parse
from supervisor_core.config.model import (
    AUTO,
    AutoRestart,
    ChannelConfig,
    Config,
    GroupConfig,
    GroupKind,
    Origin,
    ProcessConfig,
    ProgramKind,
    SupervisordConfig,
)
from supervisor_core.config.search import default_search_path, find_config

__all__ = [
    "AUTO",
    "AutoRestart",
    "ChannelConfig",
    "Config",
    "ConfigDiff",
    "ConfigError",
    "DiskFiles",
    "FileSource",
    "GroupConfig",
    "GroupKind",
    "Origin",
    "Problem",
    "ProcessConfig",
    "ProgramKind",
    "SupervisordConfig",
    "default_search_path",
    "diff_configs",
    "find_config",
    "load",
    "parse",
]
