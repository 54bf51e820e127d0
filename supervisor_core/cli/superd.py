"""``superd``: the daemon's command line (supervisord's flags)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from supervisor_core import SUPERVISORD_COMPAT_VERSION, __version__

if TYPE_CHECKING:
    from supervisor_core.config import Config, ConfigError
    from supervisor_core.config.model import SupervisordConfig
    from supervisor_core.logs import MainLogHandler


def version_text() -> str:
    """``superd --version``: our version, and the supervisord and API versions it speaks."""
    from supervisor_core.ctl.codes import API_VERSION

    return (
        f"superd {__version__} (supervisord {SUPERVISORD_COMPAT_VERSION} compatible, "
        f"XML-RPC API {API_VERSION})"
    )


def build_parser() -> argparse.ArgumentParser:
    """supervisord's options, spelled as supervisord spells them."""
    parser = argparse.ArgumentParser(
        prog="superd",
        description="Run the programs of a supervisord.conf, with every transition an event.",
    )
    add = parser.add_argument
    add("-c", "--configuration", metavar="FILE", help="configuration file path")
    add(
        "--check-config",
        action="store_true",
        help="load the configuration, print every problem as file:line and exit "
        "(0 when valid, 2 when not)",
    )
    add(
        "--sample-config",
        action="store_true",
        help="print a commented sample configuration (like echo_supervisord_conf) and exit",
    )
    add("-n", "--nodaemon", action="store_true", default=None, help="run in the foreground")
    add("-s", "--silent", action="store_true", default=None, help="no logs to stdout")
    add("-u", "--user", metavar="USER", help="run as this user (name or uid)")
    add("-m", "--umask", metavar="UMASK", help="umask for the daemon (octal, e.g. 022)")
    add("-d", "--directory", metavar="DIR", help="directory to chdir to when daemonized")
    add("-l", "--logfile", metavar="FILE", help="the daemon's log file")
    add("-y", "--logfile_maxbytes", metavar="BYTES", help="rotate the log at this size (50MB)")
    add("-z", "--logfile_backups", metavar="NUM", help="number of rotated logs to keep")
    add("-e", "--loglevel", metavar="LEVEL", help="critical, error, warn, info, debug, trace")
    add("-j", "--pidfile", metavar="FILE", help="write the daemon's pid here")
    add("-i", "--identifier", metavar="STR", help="identifier used by RPC clients")
    add("-q", "--childlogdir", metavar="DIR", help="directory of AUTO child logs")
    add("-k", "--nocleanup", action="store_true", default=None, help="keep AUTO child logs")
    add("-a", "--minfds", metavar="NUM", help="minimum free file descriptors to start")
    add("-t", "--strip_ansi", action="store_true", default=None, help="strip ANSI from logs")
    add("--minprocs", metavar="NUM", help="minimum free process descriptors to start")
    add("--profile_options", metavar="OPTIONS", help="profile the daemon (e.g. cumulative)")
    add("-v", "--version", action="version", version=version_text())
    return parser


def check_config(path: str | None) -> int:
    """Load ``path`` (or the first file of supervisord's search path) and report.

    Prints each problem on stderr and returns 2, or prints a one-line summary on
    stdout and returns 0.
    """
    from supervisor_core.config import ConfigError, find_config, load

    if path is None:
        path = find_config()
        if path is None:
            from supervisor_core.config import default_search_path

            print(
                "superd: no configuration file found at "
                + ", ".join(default_search_path())
                + "; use -c FILE",
                file=sys.stderr,
            )
            return 2
    from supervisor_core.extensions import (
        check_extensions,
        discover_extensions,
        installed_event_types,
    )

    # The registry the daemon would build: events= may name the extensions' types.
    factories = discover_extensions()
    registry = installed_event_types(factories)
    try:
        config = load(path, event_types=registry)
        check_extensions(factories, config)
    except ConfigError as error:
        return _report_config_error(path, error)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    processes = len(config.processes())
    included = len(config.included_files)
    print(
        f"OK: {config.path}: {len(config.groups)} group{'s' if len(config.groups) != 1 else ''}, "
        f"{processes} process{'es' if processes != 1 else ''}, "
        f"{included} included file{'s' if included != 1 else ''}"
    )
    return 0


def _usage_error(message: str) -> int:
    # supervisord's usage(): the message, a pointer to -h, exit status 2.
    print(f"Error: {message}\nFor help, use superd -h", file=sys.stderr)
    return 2


def _find_path(path: str | None) -> str | None:
    if path is not None:
        return path
    from supervisor_core.config import default_search_path, find_config

    found = find_config()
    if found is None:
        print(
            "superd: no configuration file found at "
            + ", ".join(default_search_path())
            + "; use -c FILE",
            file=sys.stderr,
        )
    return found


def _converters() -> dict[str, Callable[[str], object]]:
    from supervisor_core.config import converters

    return {
        "user": str,
        "umask": converters.octal,
        "directory": converters.existing_directory,
        "logfile": converters.existing_dirpath,
        "logfile_maxbytes": converters.byte_size,
        "logfile_backups": converters.integer,
        "loglevel": converters.logging_level,
        "pidfile": converters.existing_dirpath,
        "identifier": str,
        "childlogdir": converters.existing_directory,
        "minfds": converters.integer,
        "minprocs": converters.integer,
    }


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    """``config`` with superd's flags applied over ``[supervisord]`` (flags win, as in
    supervisord), and its paths made absolute before any chdir.

    Raises:
        ValueError: a flag's value is invalid (the message names the flag).
    """
    from supervisor_core.config import converters

    changes: dict[str, object] = {}
    for option, convert in _converters().items():
        value = getattr(args, option)
        if value is None:
            continue
        try:
            changes[option] = convert(value)
        except ValueError as error:
            raise ValueError(f"--{option}: {error}: {value!r}") from None
    for flag in ("nodaemon", "silent", "nocleanup", "strip_ansi"):
        if getattr(args, flag):
            changes[flag] = True
    settings = replace(config.supervisord, **changes)  # type: ignore[arg-type]
    # supervisord normalizes these at parse time, i.e. relative to where it started.
    settings = replace(
        settings,
        logfile=settings.logfile
        if settings.logfile == "syslog"
        else converters.normalize_path(settings.logfile),
        pidfile=converters.normalize_path(settings.pidfile),
        childlogdir=converters.normalize_path(settings.childlogdir),
        syslog_socket=converters.normalize_path(settings.syslog_socket),
    )
    return replace(config, supervisord=settings)


class _MainLogFormatter(logging.Formatter):
    """supervisord's line format, for the foreground copy of the log on stdout."""

    def format(self, record: logging.LogRecord) -> str:
        from supervisor_core.logs import main_log_line

        # The file handler formatted this record already: the same text, once.
        return main_log_line(record).rstrip("\n")


def configure_logging(settings: SupervisordConfig, *, foreground: bool) -> MainLogHandler | None:
    """Install the main log (and stdout when in the foreground and not ``silent``).

    Only this entry point configures logging. The main log is a file, or with
    ``logfile=syslog`` the syslog daemon's socket (``syslog_socket``); child output of
    ``*_syslog=true`` programs always goes to that socket. Returns the file handler,
    or None with ``logfile=syslog``.

    Raises:
        OSError: the log file cannot be opened, or with ``logfile=syslog`` the syslog
            socket cannot be connected to (nothing would be logged).
    """
    from supervisor_core.logs import MainLogHandler
    from supervisor_core.logs.syslog_socket import CHILD_SYSLOG_LOGGER, SyslogHandler, SyslogSocket

    root = logging.getLogger()
    root.setLevel(int(settings.loglevel))
    # A main-log line is time, level and message (supervisord's format): the caller's
    # file and line, thread, process and multiprocessing names every LogRecord
    # collects otherwise are never shown, and a crash storm logs two lines per restart
    # (the logging HOWTO's "Optimization" table lists these switches).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    # aiohttp logs every request at INFO; supervisord logs none.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    handler: MainLogHandler | None = None
    if settings.logfile == "syslog":
        sink = SyslogSocket(settings.syslog_socket)
        sink.check()
        root.addHandler(SyslogHandler(sink, main_log_format=True))
    else:
        handler = MainLogHandler(
            settings.logfile,
            maxbytes=settings.logfile_maxbytes,
            backups=settings.logfile_backups,
        )
        root.addHandler(handler)
    # Child output to syslog is independent of loglevel and never enters the main
    # log (supervisord gives it its own INFO logger); the socket connects on first use.
    child = logging.getLogger(CHILD_SYSLOG_LOGGER)
    child.setLevel(logging.INFO)
    child.propagate = False
    child.addHandler(SyslogHandler(SyslogSocket(settings.syslog_socket), main_log_format=False))
    if foreground and not settings.silent:
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(_MainLogFormatter())
        root.addHandler(stream)
    return handler


def run(args: argparse.Namespace) -> int:
    """Run the daemon: load, prepare the OS side, detach if asked, serve until shutdown.

    Returns 0 after an orderly shutdown, 2 when the configuration or the environment
    does not allow starting (nothing is started then).
    """
    # Start-up (imports, the config, the extensions) makes objects that live as long as
    # the daemon: collecting while they pile up finds nothing and walks them all. The
    # collector comes back, with them frozen, before the event loop starts.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(args, collecting=collecting)
    finally:
        if collecting:
            gc.enable()


def _run(args: argparse.Namespace, *, collecting: bool) -> int:
    import asyncio

    from supervisor_core import daemon
    from supervisor_core.children import record_path
    from supervisor_core.config import ConfigError, load
    from supervisor_core.extensions import (
        Extension,
        check_extensions,
        discover_extensions,
        installed_event_types,
    )
    from supervisor_core.http.server import ServerStartError, check_unix_socket_free
    from supervisor_core.runner import DaemonRun, StartupError, run_daemon

    found = _find_path(args.configuration)
    if found is None:
        return 2
    # Absolute before daemonizing: the daemon chdirs (to / or ``directory``), and every
    # reread, reload and HUP reads this path again from there.
    path = os.path.abspath(found)
    factories = discover_extensions()
    # This daemon's event types (the bus owns them): supervisord's and the extensions'.
    registry = installed_event_types(factories)
    try:
        loaded = load(path, event_types=registry)
        check_extensions(factories, loaded)
    except ConfigError as error:
        return _report_config_error(path, error)
    except OSError as error:
        return _usage_error(f"could not read config file {path}: {error.strerror or error}")
    try:
        config = apply_overrides(loaded, args)
    except ValueError as error:
        return _usage_error(str(error))
    settings = config.supervisord
    try:
        messages = daemon.drop_privileges(settings.user)
        infos = daemon.raise_rlimits(minfds=settings.minfds, minprocs=settings.minprocs)
    except daemon.DaemonError as error:
        return _usage_error(str(error))
    try:
        main_log = configure_logging(settings, foreground=settings.nodaemon)
    except OSError as error:
        if settings.logfile == "syslog":
            return _usage_error(
                f"logfile=syslog: cannot connect to {settings.syslog_socket}: {error.strerror}"
            )
        return _usage_error(f"could not open logfile {settings.logfile}: {error.strerror}")
    log = logging.getLogger("supervisor_core.superd")
    for level, message in messages:
        log.log(level, "%s", message)
    for message in infos:
        log.info("%s", message)
    for warning in config.warnings:
        log.warning("%s", warning)
    # Before anything a daemon already running on this file uses is touched (its AUTO
    # logs, cleared below; its journal, opened below): refuse as the bind would.
    if config.unix_http_server is not None:
        try:
            check_unix_socket_free(config.unix_http_server)
        except ServerStartError as error:
            log.critical("%s", error)
            return _usage_error(str(error))
    report: daemon.StartupReport | None = None
    if not settings.nodaemon:
        try:
            report = daemon.daemonize(settings.directory)
        except daemon.DaemonError as error:
            return _usage_error(str(error))
        os.umask(settings.umask)
        log.info("daemonizing the superd process")
    if not settings.nocleanup:
        for warning in daemon.clear_auto_child_logs(settings.childlogdir, settings.identifier):
            log.warning("%s", warning)
    # After daemonizing: the subreaper flag is not inherited across fork.
    reap_orphans, problem = _become_reaper(settings.subreaper, log)
    if problem is not None:
        if report is not None:
            report.failed(problem)
            return 2
        return _usage_error(problem)

    # Opened after daemonizing: an extension may start a thread (the journal's
    # writer), and threads do not survive fork().
    extensions: list[Extension] = []
    for factory in factories:
        try:
            extension = factory.open(config)
        except (OSError, ValueError) as error:
            log.critical("extension %s could not start: %s", factory.name, error)
            if report is not None:
                report.failed(f"extension {factory.name} could not start: {error}")
                return 2
            return _usage_error(f"extension {factory.name} could not start: {error}")
        if extension is not None:
            extensions.append(extension)

    pidfile_written = False

    def on_started() -> None:
        nonlocal pidfile_written
        # After daemonizing, or the pid would be the parent's.
        try:
            daemon.write_pidfile(settings.pidfile)
        except daemon.DaemonError as error:
            log.critical("%s", error)
        else:
            pidfile_written = True
            log.info("superd started with pid %s", os.getpid())

    def reload() -> Config:
        return apply_overrides(load(path, event_types=registry), args)

    freeze_startup_heap(collecting=collecting)
    try:
        return asyncio.run(
            run_daemon(
                config,
                DaemonRun(
                    reload=reload,
                    event_types=registry,
                    main_log=main_log,
                    report=report,
                    on_started=on_started,
                    extensions=extensions,
                    reap_orphans=reap_orphans,
                    # Next to the pidfile: survivors of a killed superd (survivors.py).
                    children_record=record_path(settings.pidfile),
                    trim_heap=True,
                ),
            )
        )
    except StartupError as error:
        log.critical("%s", error)
        if report is not None:
            report.failed(str(error))
            return 2
        return _usage_error(str(error))
    finally:
        if pidfile_written:
            daemon.remove_file(settings.pidfile)
        if report is not None:
            report.failed("the daemon exited before it was ready")
        logging.shutdown()


def freeze_startup_heap(*, collecting: bool = True) -> None:
    """Move every object alive now (modules, classes, the loaded config) out of the GC's sight.

    They live as long as the daemon, yet each full collection walked all of them again
    (15-20 ms with 500 programs, twice during a launch). Frozen objects are still freed
    by reference counting; only cyclic garbage that exists now (a few dozen objects from
    start-up) is kept. ``collecting``: turn the collector (back) on.
    """
    gc.freeze()
    if collecting:
        gc.enable()


def _become_reaper(subreaper: bool, log: logging.Logger) -> tuple[bool, str | None]:
    """Whether superd reaps orphans, and why it cannot (``subreaper=true`` refused).

    As PID 1 (a container's init) orphans come to superd whatever the setting, so it
    always reaps them; elsewhere ``subreaper=true`` asks the kernel to send it the
    orphans of its descendants (``PR_SET_CHILD_SUBREAPER``).
    """
    if os.getpid() == 1:
        log.info("running as PID 1: reaping orphaned processes")
        return True, None
    if not subreaper:
        return False, None
    from supervisor_core.orphans import SubreaperError, set_child_subreaper

    try:
        set_child_subreaper()
    except SubreaperError as error:
        return False, f"subreaper=true: {error}"
    log.info("child subreaper: reaping orphaned processes")
    return True, None


def _report_config_error(path: str, error: ConfigError) -> int:
    for problem in error.problems:
        print(problem, file=sys.stderr)
    count = len(error.problems)
    print(f"superd: {count} problem{'s' if count != 1 else ''} in {path}", file=sys.stderr)
    return 2


def assets_parser() -> argparse.ArgumentParser:
    """``superd assets``: list or write out the files that come with superd."""
    parser = argparse.ArgumentParser(
        prog="superd assets",
        description="List or write out the alert rules, dashboards, notebooks, example "
        "configs, man pages and shell completion installed with superd.",
    )
    parser.add_argument(
        "--write", metavar="DIR", help="copy every asset under DIR (created if missing)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")
    return parser


def assets_main(argv: Sequence[str]) -> int:
    """``superd assets [--write DIR [--force]]``: without --write, list them."""
    from pathlib import Path

    from supervisor_core.assets import AssetsError, asset_files, write_assets

    args = assets_parser().parse_args(argv)
    if args.write is None:
        for asset in asset_files():
            print(asset.path)
        return 0
    try:
        written = write_assets(Path(args.write), overwrite=args.force)
    except AssetsError as error:
        print(f"superd assets: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} files under {args.write}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``superd`` (``superd assets ...`` lists or writes the assets)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["assets"]:
        return assets_main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.sample_config:
        from supervisor_core.cli.sample_config import SAMPLE_CONFIG

        sys.stdout.write(SAMPLE_CONFIG)
        return 0
    if args.check_config:
        return check_config(args.configuration)
    if os.getpid() == 1:
        return run_as_pid_1(args)
    return run(args)


# The signals that shut superd down (supervisord's); see daemon.DAEMON_SIGNALS.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _stop_before_serving(signum: int, _frame: object) -> None:
    # Nothing is started before the event loop's handlers replace this one, so there
    # is nothing to stop: leave at once (only async-signal-safe calls here).
    name = signal.Signals(signum).name
    os.write(2, f"superd: {name} before start-up finished: exiting\n".encode())
    os._exit(0)


def run_as_pid_1(args: argparse.Namespace) -> int:
    """:func:`run` as PID 1 of a PID namespace (a container's init).

    The kernel drops any signal PID 1 has no handler for, so a stop signal sent while
    superd reads its configuration would be lost (and the engine would wait for its
    kill timeout): until the daemon's own handlers take over, SIGTERM, SIGINT and
    SIGQUIT make superd exit 0 at once. PID 1 also never daemonizes (its exit would
    end the namespace and kill the detached daemon): ``-n`` is implied.
    """
    previous = {sig: signal.signal(sig, _stop_before_serving) for sig in _STOP_SIGNALS}
    args.nodaemon = True
    try:
        return run(args)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
