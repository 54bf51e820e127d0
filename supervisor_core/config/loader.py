"""supervisord.conf text -> :class:`Config`: includes, sections, groups, one ConfigError.

Rules of this file:
- ``parse(text, path)`` reads included files through a :class:`FileSource`
  (the disk by default); ``load(path)`` only adds reading the main file.
- ``[include] files=`` is read from the main file only, its globs are relative to
  the main file and matches are read in sorted order; an ``[include]`` inside an
  included file is ignored, exactly as supervisord 4.3 does (it reads the list
  once, before any included file), and we say so in a warning.
- Every problem of every section is collected; one :class:`ConfigError` lists them,
  sorted by file and line. Things supervisord accepts but that look wrong become
  ``Config.warnings``.
"""

from __future__ import annotations

import glob
import os
import platform
from collections.abc import Container, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Protocol

from supervisor_core.config import converters, dependencies
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.expand import environ_expansions, supervisord_expansions
from supervisor_core.config.ini import IniDocument, read_ini
from supervisor_core.config.model import (
    Config,
    ExtensionSection,
    GroupConfig,
    GroupKind,
    InetHttpServerConfig,
    Origin,
    ProcessConfig,
    ProgramKind,
    RpcInterfaceConfig,
    SupervisorctlConfig,
    SupervisordConfig,
    UnixHttpServerConfig,
)
from supervisor_core.config.programs import (
    EVENTLISTENER_OPTIONS,
    FCGI_PROGRAM_OPTIONS,
    GROUP_OPTIONS,
    PROGRAM_OPTIONS,
    ProcessContext,
    group_names,
    listener_event_problems,
    listener_pool,
    processes_from_section,
    program_group,
    sort_processes,
)
from supervisor_core.config.reader import Collector, SectionReader
from supervisor_core.config.sections import (
    INET_HTTP_SERVER_OPTIONS,
    SUPERVISORCTL_OPTIONS,
    SUPERVISORD_OPTIONS,
    UNIX_HTTP_SERVER_OPTIONS,
    read_inet_http_server,
    read_rpcinterface,
    read_supervisorctl,
    read_supervisord,
    read_unix_http_server,
)

_KNOWN_OPTIONS: Mapping[str, frozenset[str]] = {
    "supervisord": SUPERVISORD_OPTIONS,
    "unix_http_server": UNIX_HTTP_SERVER_OPTIONS,
    "inet_http_server": INET_HTTP_SERVER_OPTIONS,
    "supervisorctl": SUPERVISORCTL_OPTIONS,
    "include": frozenset({"files"}),
    "program": PROGRAM_OPTIONS,
    "eventlistener": EVENTLISTENER_OPTIONS,
    "fcgi-program": FCGI_PROGRAM_OPTIONS,
    "group": GROUP_OPTIONS,
}
_PREFIXED = ("program", "eventlistener", "fcgi-program", "group", "rpcinterface")


class FileSource(Protocol):
    """How the loader reads included files (the disk, or a fake in tests)."""

    def read_text(self, path: str) -> str:
        """The file's text; raises ``OSError`` when it cannot be read."""

    def glob(self, pattern: str) -> list[str]:
        """Paths matching a shell pattern (``glob.glob`` semantics)."""


class DiskFiles:
    """The real filesystem."""

    def read_text(self, path: str) -> str:
        """Read ``path`` as UTF-8 text (undecodable bytes are an ``OSError``)."""
        with open(path, encoding="utf-8") as handle:
            try:
                return handle.read()
            except UnicodeDecodeError as error:
                raise OSError(f"not UTF-8 text: {error.reason}") from None

    def glob(self, pattern: str) -> list[str]:
        """``glob.glob(pattern)``."""
        return glob.glob(pattern)


def load(
    path: str,
    *,
    environ: Mapping[str, str] | None = None,
    host_node_name: str | None = None,
    files: FileSource | None = None,
    event_types: Container[str] | None = None,
) -> Config:
    """Read and parse the configuration file ``path`` and everything it includes.

    ``event_types`` is as for :func:`parse`.

    Raises:
        ConfigError: listing every problem (an unreadable main file is one problem).

    Example::

        config = load("/etc/supervisord.conf")
        for group in config.groups:
            print(group.name, [p.name for p in group.processes])
    """
    source = files if files is not None else DiskFiles()
    try:
        text = source.read_text(path)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(
            [Problem(origin=Origin(path, 1), section=None, reason=f"cannot read file: {reason}")]
        ) from None
    return parse(
        text,
        path,
        environ=environ,
        host_node_name=host_node_name,
        files=source,
        event_types=event_types,
    )


def parse(
    text: str,
    path: str,
    *,
    environ: Mapping[str, str] | None = None,
    host_node_name: str | None = None,
    files: FileSource | None = None,
    event_types: Container[str] | None = None,
) -> Config:
    """Parse ``text`` as the configuration file ``path`` (which anchors ``%(here)s``
    and relative ``[include]`` globs).

    Args:
        text: contents of the main file.
        path: its path; need not exist unless the text includes other files.
        environ: the environment ``%(ENV_X)s`` reads (default ``os.environ``).
        host_node_name: ``%(host_node_name)s`` (default ``platform.node()``).
        files: how included files are found and read (default: the disk).
        event_types: the event type names a listener's ``events=`` may use (the
            daemon's ``EventTypeRegistry``, which extensions add to): an unknown
            name is one more problem of the same pass. None leaves that check to
            the daemon, when it builds the pools (``pools.check_listener_events``).

    Raises:
        ConfigError: listing every problem found, each with file:line.
    """
    environ = dict(os.environ if environ is None else environ)
    host = platform.node() if host_node_name is None else host_node_name
    source = files if files is not None else DiskFiles()
    main = os.path.abspath(path)
    here = os.path.dirname(main)
    collector = Collector()
    document = read_ini(text, path)
    included = _read_includes(
        document, here=here, host=host, environ=environ, source=source, collector=collector
    )
    collector.problems.extend(document.problems)

    daemon_names = supervisord_expansions(here, environ)
    if "supervisord" in document.sections:
        supervisord = read_supervisord(
            SectionReader(document, "supervisord", collector), daemon_names, host
        )
    else:
        collector.problem(
            Problem(
                origin=Origin(path, 1),
                section="supervisord",
                reason="section missing (supervisord requires it)",
            )
        )
        supervisord = SupervisordConfig()

    environ_names = environ_expansions(environ)
    environ_names.update(environ_expansions(supervisord.environment))
    context = ProcessContext(environ_names=environ_names, host_node_name=host, here=here)
    rpcinterfaces: list[RpcInterfaceConfig] = []
    for section in document.sections:
        if section.startswith("rpcinterface:"):
            found = read_rpcinterface(SectionReader(document, section, collector), daemon_names)
            if found is not None:
                rpcinterfaces.append(found)
    groups = _groups(document, context, collector)
    groups = tuple(_merge_environment(group, supervisord) for group in groups)
    if event_types is not None:
        for problem in listener_event_problems(groups, event_types):
            collector.problem(problem)

    inet: InetHttpServerConfig | None = None
    unix: UnixHttpServerConfig | None = None
    ctl: SupervisorctlConfig | None = None
    if "inet_http_server" in document.sections:
        inet = read_inet_http_server(
            SectionReader(document, "inet_http_server", collector), daemon_names
        )
    if "unix_http_server" in document.sections:
        unix = read_unix_http_server(
            SectionReader(document, "unix_http_server", collector), daemon_names
        )
    if "supervisorctl" in document.sections:
        ctl = read_supervisorctl(
            SectionReader(document, "supervisorctl", collector, lenient=True), daemon_names
        )
    unknown = _check_names(document, collector)
    _, dependency_problems = dependencies.resolve(groups)
    for problem in dependency_problems:
        collector.problem(problem)

    if collector.problems:
        order = {name: index for index, name in enumerate([path, *included])}
        raise ConfigError(
            sorted(
                collector.problems,
                key=lambda p: (order.get(p.origin.file, len(order)), p.origin.line),
            )
        )
    return Config(
        path=main,
        here=here,
        supervisord=supervisord,
        groups=groups,
        unix_http_server=unix,
        inet_http_server=inet,
        supervisorctl=ctl,
        rpcinterfaces=tuple(rpcinterfaces),
        included_files=tuple(included),
        unknown_sections=unknown,
        extension_sections=tuple(_extension_section(document, name) for name in unknown),
        warnings=tuple(collector.warnings),
    )


def _read_includes(
    document: IniDocument,
    *,
    here: str,
    host: str,
    environ: Mapping[str, str],
    source: FileSource,
    collector: Collector,
) -> list[str]:
    """Read the files the main file's ``[include]`` names into ``document``."""
    if "include" not in document.sections:
        return []
    reader = SectionReader(document, "include", collector)
    if not reader.has("files"):
        reader.fail("files", "missing (an [include] section needs files=)")
        return []
    names = supervisord_expansions(here, environ)
    names["host_node_name"] = host
    patterns = reader.text("files", names)
    if patterns is None:
        return []
    # Read before any included file: a nested [include] would overwrite this key.
    files_origin = reader.origin_of("files")
    included: list[str] = []
    for pattern in patterns.split():
        full = os.path.join(here, pattern)
        matches = sorted(source.glob(full))
        if not matches:
            collector.warn(files_origin, "include", f"no file matches {full!r}")
            continue
        for filename in matches:
            try:
                text = source.read_text(filename)
            except OSError as error:
                # RawConfigParser.read() skips unreadable files silently; we at least say so.
                reason = error.strerror or str(error)
                collector.warn(files_origin, "include", f"cannot read {filename!r}: {reason}")
                continue
            headers_before = len(document.sections["include"].files)
            read_ini(text, filename, into=document)
            included.append(filename)
            if len(document.sections["include"].files) > headers_before:
                collector.warn(
                    None,
                    "include",
                    f"{filename}: [include] in an included file is ignored "
                    "(supervisord reads only the main file's [include])",
                )
    return included


def _groups(
    document: IniDocument, context: ProcessContext, collector: Collector
) -> tuple[GroupConfig, ...]:
    """Every group, heterogeneous ones first claiming their programs, sorted by priority."""
    sections = list(document.sections)
    claimed: dict[str, str] = {}  # program section -> first [group:x] claiming it
    groups: list[GroupConfig] = []
    for section in sections:
        if not section.startswith("group:"):
            continue
        reader = SectionReader(document, section, collector)
        name = group_names(reader)
        names: dict[str, object] = dict(context.environ_names)
        names["here"] = context.here
        priority = reader.convert("priority", 999, converters.integer, names)
        programs = converters.list_of_strings(reader.text("programs", names) or "")
        processes: list[ProcessConfig] = []
        for program in programs:
            plain, fcgi = f"program:{program}", f"fcgi-program:{program}"
            if plain not in document.sections and fcgi not in document.sections:
                reader.fail("programs", "names unknown program or fcgi-program", program)
                continue
            if plain in document.sections and fcgi in document.sections:
                reader.fail(
                    "programs", "is ambiguous: both [program:x] and [fcgi-program:x] exist", program
                )
                continue
            member = plain if plain in document.sections else fcgi
            if member in claimed:
                collector.warn(
                    reader.origin_of("programs"),
                    section,
                    f"[{member}] is also in [{claimed[member]}]: "
                    "supervisord runs it in both groups",
                )
            else:
                claimed[member] = section
            if member == fcgi:
                collector.warn(
                    reader.origin_of("programs"),
                    section,
                    f"[{member}] in a [group:x] runs as a plain program without its socket, "
                    "as in supervisord",
                )
            processes.extend(
                processes_from_section(
                    SectionReader(document, member, collector),
                    context,
                    name,
                    ProgramKind.PROGRAM,
                )
            )
        groups.append(
            GroupConfig(
                name=name,
                kind=GroupKind.GROUP,
                priority=priority,
                processes=sort_processes(processes),
                origin=reader.origin,
            )
        )
    for section in sections:
        prefix = section.partition(":")[0]
        if section in claimed or ":" not in section:
            continue
        reader = SectionReader(document, section, collector)
        if prefix == "program":
            groups.append(program_group(reader, context, ProgramKind.PROGRAM))
        elif prefix == "fcgi-program":
            groups.append(program_group(reader, context, ProgramKind.FCGI_PROGRAM))
        elif prefix == "eventlistener":
            groups.append(listener_pool(reader, context))
    seen: dict[str, GroupConfig] = {}
    for group in groups:
        if group.name in seen:
            collector.warn(
                group.origin,
                None,
                f"group {group.name!r} is defined twice; supervisord keeps the first one",
            )
        else:
            seen[group.name] = group
        names_seen: set[str] = set()
        for process in group.processes:
            if process.name in names_seen:
                collector.warn(
                    group.origin,
                    None,
                    f"group {group.name!r} has two processes named {process.name!r}",
                )
            names_seen.add(process.name)
    return tuple(sorted(groups, key=lambda g: (g.priority, g.name)))


def _merge_environment(group: GroupConfig, supervisord: SupervisordConfig) -> GroupConfig:
    """Overlay each process's environment on ``[supervisord] environment``."""
    if not supervisord.environment:
        return group
    processes = tuple(
        replace(
            process,
            environment=MappingProxyType({**supervisord.environment, **process.environment}),
        )
        for process in group.processes
    )
    return replace(group, processes=processes)


def _extension_section(document: IniDocument, name: str) -> ExtensionSection:
    """An unknown section's raw keys and their places, for the extension that owns it."""
    section = document.sections[name]
    return ExtensionSection(
        name=name,
        values=MappingProxyType({key: value.value for key, value in section.values.items()}),
        origins=MappingProxyType({key: value.origin for key, value in section.values.items()}),
        origin=section.origin,
    )


def _check_names(document: IniDocument, collector: Collector) -> tuple[str, ...]:
    """Warn about unknown options; return the sections supervisord would ignore."""
    unknown: list[str] = []
    for name, section in document.sections.items():
        prefix, sep, _ = name.partition(":")
        known = prefix in _PREFIXED if sep else prefix in _KNOWN_OPTIONS and prefix not in _PREFIXED
        if not known:
            unknown.append(name)
            # Sections of supervisorctl plugins and of superd's own extensions are expected.
            if not name.startswith(("ctlplugin:", "exporter:", "notifier:")):
                collector.warn(section.origin, name, "unknown section (supervisord ignores it)")
            continue
        if prefix == "rpcinterface":
            continue
        for option, value in section.values.items():
            if option not in _KNOWN_OPTIONS[prefix]:
                collector.warn(value.origin, name, f"{option}: unknown option (ignored)")
    return tuple(unknown)
