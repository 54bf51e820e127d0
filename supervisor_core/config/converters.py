"""Small pure converters from option text to typed values, with supervisord's spellings.

Rules of this file:
- Each converter takes the (already expanded) text and returns a typed value or
  raises ``ValueError`` whose message is a short reason ("not an integer"); the
  caller adds file, line, section, option and the value itself.
- Accepted spellings are supervisord 4.x's (``datatypes.py``), quirks included,
  because an existing supervisord.conf must load unchanged: ``int()`` rules for
  numbers, ``yes/true/on/1``, ``50MB``, ``TERM``/``SIGTERM``/``15``, and so on.
- Converters that look at the system (directories, users) say so in their name.
- superd's own sections (``[exporter:*]``) add spellings supervisord never reads:
  durations with a unit (``50ms``, ``7d``) and bounded counts; they live here too, so
  every extension accepts the same ones.
"""

from __future__ import annotations

import grp
import math
import os
import pwd
import re
import shlex
import signal
from collections.abc import Callable, Mapping

from supervisor_core.config.model import AUTO, AutoRestart, LogFile, LogLevel, SurvivorAction
from supervisor_core.signals import parse_signal

TRUTHY = ("yes", "true", "on", "1")
FALSY = ("no", "false", "off", "0")

_BYTE_SUFFIXES = {"kb": 1024, "mb": 1024 * 1024, "gb": 1024 * 1024 * 1024}

_LOG_LEVELS: Mapping[str, LogLevel] = {
    "critical": LogLevel.CRITICAL,
    "error": LogLevel.ERROR,
    "warn": LogLevel.WARN,
    "info": LogLevel.INFO,
    "debug": LogLevel.DEBUG,
    "trace": LogLevel.TRACE,
    "blather": LogLevel.BLATHER,
}

# supervisord's deprecated magic stdout_logfile value; the loader turns it into syslog=true.
SYSLOG = "syslog"


def boolean(text: str) -> bool:
    """``yes/true/on/1`` or ``no/false/off/0``, any case."""
    lowered = text.lower()
    if lowered in TRUTHY:
        return True
    if lowered in FALSY:
        return False
    raise ValueError("not a boolean (use true/false, yes/no, on/off, 1/0)")


def integer(text: str) -> int:
    """A decimal integer as ``int()`` reads it (surrounding spaces and ``_`` allowed)."""
    try:
        return int(text)
    except ValueError:
        raise ValueError("not an integer") from None


def non_negative_integer(text: str) -> int:
    """An ``integer`` that is 0 or more (superd's own counting options)."""
    value = integer(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def integer_at_least(minimum: int) -> Callable[[str], int]:
    """A converter for an ``integer`` of ``minimum`` or more (``must be >= 1``)."""

    def convert(text: str) -> int:
        value = integer(text)
        if value < minimum:
            raise ValueError(f"must be >= {minimum}")
        return value

    return convert


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\Z", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def is_duration(text: str) -> bool:
    """Whether ``text`` is spelled as a :func:`duration` (a number and a unit)."""
    return _DURATION_RE.match(text.strip()) is not None


def duration(text: str) -> float:
    """A number with a unit, in seconds: ``50ms``, ``30s``, ``15m``, ``12h``, ``7d``, ``2w``."""
    match = _DURATION_RE.match(text.strip())
    if match is None:
        raise ValueError("not a duration (e.g. 50ms, 30s, 15m, 12h, 7d, 2w)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def positive_seconds(text: str) -> float:
    """Plain seconds (``1.5``) or a :func:`duration` (``500ms``), more than 0."""
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        value = duration(stripped)
    if not value > 0:
        raise ValueError("must be more than 0 seconds")
    return value


def non_negative_number(text: str) -> float:
    """Seconds or a ratio: a finite decimal number that is 0 or more (``0.5``, ``30``)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a finite number, 0 or more")
    return value


def byte_size(text: str) -> int:
    """Bytes from ``1024``, ``1KB``, ``50MB`` or ``1GB`` (suffix case-insensitive)."""
    lowered = text.lower()
    multiplier = _BYTE_SUFFIXES.get(lowered[-2:], 1)
    digits = lowered[:-2] if lowered[-2:] in _BYTE_SUFFIXES else lowered
    try:
        return int(digits) * multiplier
    except ValueError:
        raise ValueError("not a byte size (like 1024, 1KB, 50MB, 1GB)") from None


def octal(text: str) -> int:
    """An octal number such as a umask or a file mode (``022``, ``0o700``)."""
    try:
        return int(text, 8)
    except ValueError:
        raise ValueError("not an octal number") from None


def signal_number(text: str) -> signal.Signals:
    """A signal by name (``TERM``, ``SIGTERM``, any case) or number (``15``)."""
    return parse_signal(text)


def exitcodes(text: str) -> frozenset[int]:
    """Comma-separated exit codes 0..255; empty text means no expected code."""
    if not text:
        return frozenset()
    codes: set[int] = set()
    for part in text.split(","):
        try:
            code = int(part)
        except ValueError:
            raise ValueError("not a list of exit codes (like 0,2)") from None
        if not 0 <= code <= 255:
            raise ValueError("exit codes must be between 0 and 255")
        codes.add(code)
    return frozenset(codes)


def auto_restart(text: str) -> AutoRestart:
    """``unexpected``, or a boolean (true restarts always, false never)."""
    lowered = text.lower()
    if lowered in TRUTHY:
        return AutoRestart.TRUE
    if lowered in FALSY:
        return AutoRestart.FALSE
    if lowered == "unexpected":
        return AutoRestart.UNEXPECTED
    raise ValueError("not an autorestart value (use true, false or unexpected)")


def survivor_action(text: str) -> SurvivorAction:
    """``kill``, ``adopt`` or ``leave`` (superd's ``[supervisord] survivors``)."""
    try:
        return SurvivorAction(text.strip().lower())
    except ValueError:
        raise ValueError("not a survivors action (use kill, adopt or leave)") from None


def logging_level(text: str) -> LogLevel:
    """A log level name: critical, error, warn, info, debug, trace, blather."""
    try:
        return _LOG_LEVELS[text.lower()]
    except KeyError:
        raise ValueError(
            "not a log level (use critical, error, warn, info, debug, trace or blather)"
        ) from None


def process_or_group_name(text: str) -> str:
    """A process or group name: stripped, without space, ``:`` or ``/``.

    Those characters would break the listener protocol's ``key:value`` payloads
    and the web UI's URLs.
    """
    name = text.strip()
    for character in " :/":
        if character in name:
            raise ValueError(f"a name must not contain {character!r}")
    return name


def list_of_strings(text: str) -> tuple[str, ...]:
    """Comma-separated items, each stripped; empty text is no items."""
    if not text:
        return ()
    return tuple(item.strip() for item in text.split(","))


def dict_of_key_value_pairs(text: str) -> dict[str, str]:
    """``A="1",B='2',C=x`` -> ``{'A': '1', 'B': '2', 'C': 'x'}``.

    Tokenised like supervisord: a non-POSIX ``shlex`` whose words also hold
    ``/.+-():``; quotes let a value contain commas or spaces, and each
    ``key = value`` triple is followed by one separator token.
    """
    lexer = shlex.shlex(text)
    lexer.wordchars += "/.+-():"
    try:
        tokens = list(lexer)
    except ValueError as error:  # shlex: "No closing quotation"
        raise ValueError(f"not KEY=value pairs ({str(error).lower()})") from None
    pairs: dict[str, str] = {}
    for start in range(0, len(tokens), 4):
        triple = tokens[start : start + 3]
        if len(triple) != 3 or triple[1] != "=":
            raise ValueError("not KEY=value pairs separated by commas")
        pairs[triple[0]] = triple[2].strip("'\"")
    return pairs


def inet_address(text: str) -> tuple[str, int]:
    """``host:port``, ``*:port``, ``:port`` or ``port`` -> (host, port); "" means all."""
    host = ""
    port_text = text
    if ":" in text:
        host, port_text = text.rsplit(":", 1)
        if not port_text:
            raise ValueError("no port number")
        host = host.lower()
    port = port_number(port_text)
    if host == "*":
        host = ""
    return host, port


def port_number(text: str) -> int:
    """A TCP port, 1..65535."""
    try:
        port = int(text)
    except ValueError:
        raise ValueError("not a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError("port must be between 1 and 65535")
    return port


def name_to_uid(text: str) -> int:
    """A uid from a user name or number that exists on this system."""
    try:
        uid = int(text)
    except ValueError:
        try:
            return pwd.getpwnam(text).pw_uid
        except KeyError:
            raise ValueError("no such user") from None
    try:
        pwd.getpwuid(uid)
    except KeyError:
        raise ValueError("no such user id") from None
    return uid


def name_to_gid(text: str) -> int:
    """A gid from a group name or number that exists on this system."""
    try:
        gid = int(text)
    except ValueError:
        try:
            return grp.getgrnam(text).gr_gid
        except KeyError:
            raise ValueError("no such group") from None
    try:
        grp.getgrgid(gid)
    except KeyError:
        raise ValueError("no such group id") from None
    return gid


def gid_for_uid(uid: int) -> int:
    """The primary group of ``uid``."""
    return pwd.getpwuid(uid).pw_gid


def colon_separated_user_group(text: str) -> tuple[int, int]:
    """``user`` or ``user:group`` -> (uid, gid); gid is -1 when only a user is given."""
    user, sep, group = text.partition(":")
    try:
        uid = name_to_uid(user)
        gid = name_to_gid(group) if sep else -1
    except ValueError as error:
        raise ValueError(f"not a user:group on this system ({error})") from None
    return uid, gid


def existing_directory(text: str) -> str:
    """A directory that exists (``~`` expanded)."""
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        return path
    raise ValueError("not an existing directory")


def existing_dirpath(text: str) -> str:
    """A file path whose directory exists (``~`` expanded); a bare name is fine."""
    path = os.path.expanduser(text)
    directory = os.path.dirname(path)
    if not directory or os.path.isdir(directory):
        return path
    raise ValueError("the directory of this path does not exist")


def logfile_name(text: str) -> LogFile:
    """A child log target: ``AUTO``, ``NONE``/``OFF`` (None), ``syslog``, or a path.

    ``syslog`` comes back as :data:`SYSLOG`; the loader rewrites it to
    ``*_syslog=true`` with no file, with supervisord's deprecation warning.
    """
    lowered = text.lower()
    if lowered in ("none", "off"):
        return None
    if lowered == "auto":
        return AUTO
    if lowered == SYSLOG:
        return SYSLOG
    return existing_dirpath(text)


def normalize_path(text: str) -> str:
    """Absolute, normalised, ``~``-expanded path (supervisord's ``normalize_path``)."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(text)))
