"""The daemon-wide sections: ``[supervisord]``, the two HTTP servers, ``[supervisorctl]``
and ``[rpcinterface:x]``.

Rules of this file:
- Defaults and conversions are supervisord 4.x's (``ServerOptions.read_config`` and
  ``server_configs_from_parser``); only ``%(here)s`` and ``%(ENV_X)s`` expand here.
- ``[supervisorctl]`` is read only by clients, never by supervisord, so its
  problems are warnings: a file supervisord accepts must load.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from types import MappingProxyType

from supervisor_core.config import converters
from supervisor_core.config.expand import expand
from supervisor_core.config.model import (
    InetHttpServerConfig,
    LogLevel,
    Origin,
    RpcInterfaceConfig,
    SupervisorctlConfig,
    SupervisordConfig,
    UnixHttpServerConfig,
)
from supervisor_core.config.reader import SectionReader

SUPERVISORD_OPTIONS = frozenset(
    {
        "logfile",
        "logfile_maxbytes",
        "logfile_backups",
        "loglevel",
        "pidfile",
        "umask",
        "nodaemon",
        "silent",
        "minfds",
        "minprocs",
        "nocleanup",
        "childlogdir",
        "user",
        "directory",
        "strip_ansi",
        "environment",
        "identifier",
        # superd only (supervisord ignores unknown options): see docs/config.md.
        "stderr_tail_lines",
        "syslog_socket",
        "subreaper",
        "survivors",
    }
)
UNIX_HTTP_SERVER_OPTIONS = frozenset({"file", "chmod", "chown", "username", "password"})
INET_HTTP_SERVER_OPTIONS = frozenset({"port", "username", "password"})
SUPERVISORCTL_OPTIONS = frozenset({"serverurl", "username", "password", "prompt", "history_file"})
RPCINTERFACE_FACTORY_KEY = "supervisor.rpcinterface_factory"


def _key_origins(reader: SectionReader) -> Mapping[str, Origin]:
    return MappingProxyType(
        {name: reader.origin_of(name) for name in reader.document.options(reader.section)}
    )


def _or_default(value: str | None, default: str) -> str:
    return default if value is None else value


def read_supervisord(
    reader: SectionReader, names: Mapping[str, object], host_node_name: str
) -> SupervisordConfig:
    """``[supervisord]``; ``names`` are the ``ENV_X`` expansions of the daemon's environment."""
    default = SupervisordConfig()
    c = converters
    directory = reader.convert("directory", None, c.existing_directory, names)
    user_text = reader.text("user", names)
    if user_text is not None:
        try:
            c.name_to_uid(user_text)
        except ValueError as error:
            reader.fail("user", str(error), user_text)
    environment: dict[str, str] = {}
    # supervisord expands environment twice: once like every option, then again with
    # host_node_name added (which the first pass does not know, so it cannot be used).
    env_text = reader.text("environment", names)
    if env_text is not None:
        second = dict(names)
        second["host_node_name"] = host_node_name
        try:
            environment = c.dict_of_key_value_pairs(expand(env_text, second))
        except ValueError as error:
            reader.fail("environment", str(error), env_text)
    return SupervisordConfig(
        logfile=reader.convert("logfile", default.logfile, c.existing_dirpath, names),
        logfile_maxbytes=reader.convert(
            "logfile_maxbytes", default.logfile_maxbytes, c.byte_size, names
        ),
        logfile_backups=reader.convert(
            "logfile_backups", default.logfile_backups, c.integer, names
        ),
        loglevel=reader.convert("loglevel", LogLevel.INFO, c.logging_level, names),
        pidfile=reader.convert("pidfile", default.pidfile, c.existing_dirpath, names),
        umask=reader.convert("umask", default.umask, c.octal, names),
        nodaemon=reader.convert("nodaemon", False, c.boolean, names),
        silent=reader.convert("silent", False, c.boolean, names),
        minfds=reader.convert("minfds", default.minfds, c.integer, names),
        minprocs=reader.convert("minprocs", default.minprocs, c.integer, names),
        nocleanup=reader.convert("nocleanup", False, c.boolean, names),
        childlogdir=reader.convert(
            "childlogdir", tempfile.gettempdir(), c.existing_directory, names
        ),
        user=user_text,
        directory=directory,
        strip_ansi=reader.convert("strip_ansi", False, c.boolean, names),
        environment=MappingProxyType(environment),
        identifier=_or_default(reader.text("identifier", names), default.identifier),
        stderr_tail_lines=reader.convert(
            "stderr_tail_lines", default.stderr_tail_lines, c.non_negative_integer, names
        ),
        syslog_socket=reader.convert(
            "syslog_socket", default.syslog_socket, c.existing_dirpath, names
        ),
        subreaper=reader.convert("subreaper", default.subreaper, c.boolean, names),
        survivors=reader.convert("survivors", default.survivors, c.survivor_action, names),
        origin=reader.origin,
        key_origins=_key_origins(reader),
    )


def _credentials(reader: SectionReader, names: Mapping[str, object]) -> tuple[str | None, ...]:
    username = reader.text("username", names)
    password = reader.text("password", names)
    if reader.has("username") != reader.has("password"):
        given = "username" if reader.has("username") else "password"
        reader.fail(given, "incomplete authentication: username and password must be set together")
    return username, password


def read_inet_http_server(
    reader: SectionReader, names: Mapping[str, object]
) -> InetHttpServerConfig | None:
    """``[inet_http_server]``: ``port=`` is required."""
    username, password = _credentials(reader, names)
    if not reader.has("port"):
        reader.fail("port", "missing (the section needs port=host:port)")
        return None
    address = reader.convert("port", None, converters.inet_address, names)
    if address is None:
        return None
    return InetHttpServerConfig(
        host=address[0],
        port=address[1],
        username=username,
        password=password,
        origin=reader.origin,
    )


def read_unix_http_server(
    reader: SectionReader, names: Mapping[str, object]
) -> UnixHttpServerConfig | None:
    """``[unix_http_server]``: ``file=`` is required; chmod 0700 and no chown by default."""
    username, password = _credentials(reader, names)
    chmod = reader.convert("chmod", 0o700, converters.octal, names)
    chown = reader.convert("chown", (-1, -1), converters.colon_separated_user_group, names)
    if not reader.has("file"):
        reader.fail("file", "missing (the section needs file=/path/to/socket)")
        return None
    path = reader.text("file", names)
    if path is None:
        return None
    return UnixHttpServerConfig(
        file=converters.normalize_path(path.strip()),
        chmod=chmod,
        chown=chown,
        username=username,
        password=password,
        origin=reader.origin,
    )


def read_supervisorctl(reader: SectionReader, names: Mapping[str, object]) -> SupervisorctlConfig:
    """``[supervisorctl]`` as supervisorctl reads it (unix:// paths normalised)."""
    default = SupervisorctlConfig()
    serverurl = reader.text("serverurl", names) or default.serverurl
    if serverurl.startswith("unix://"):
        serverurl = "unix://" + converters.normalize_path(serverurl[len("unix://") :])
    history = reader.text("history_file", names)
    return SupervisorctlConfig(
        serverurl=serverurl,
        username=reader.text("username", names),
        password=reader.text("password", names),
        prompt=reader.text("prompt", names) or default.prompt,
        history_file=converters.normalize_path(history) if history else None,
        origin=reader.origin,
    )


def read_rpcinterface(
    reader: SectionReader, names: Mapping[str, object]
) -> RpcInterfaceConfig | None:
    """``[rpcinterface:x]``: the factory is recorded, not imported (superd serves its own)."""
    name = reader.section.split(":", 1)[1]
    if not reader.has(RPCINTERFACE_FACTORY_KEY):
        reader.fail(RPCINTERFACE_FACTORY_KEY, "missing (the section names no factory)")
        return None
    factory = reader.text(RPCINTERFACE_FACTORY_KEY, names)
    extras: dict[str, str] = {}
    for option in reader.document.options(reader.section):
        if option != RPCINTERFACE_FACTORY_KEY:
            extras[option] = reader.text(option, names) or ""
    if factory is None:
        return None
    return RpcInterfaceConfig(
        name=name, factory=factory, extras=MappingProxyType(extras), origin=reader.origin
    )
