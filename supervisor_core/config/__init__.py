"""supervisord.conf -> typed, frozen config objects (see ``model``)."""

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

__all__ = [
    "AUTO",
    "AutoRestart",
    "ChannelConfig",
    "Config",
    "GroupConfig",
    "GroupKind",
    "Origin",
    "ProcessConfig",
    "ProgramKind",
    "SupervisordConfig",
]
