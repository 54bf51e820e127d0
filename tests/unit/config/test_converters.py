"""Converters keep supervisord's accepted spellings and reject the rest with a reason."""

from __future__ import annotations

import os
import pwd
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supervisor_core.config import converters as c
from supervisor_core.config.model import AUTO, AutoRestart, LogLevel

GOOD: list[tuple[Callable[[str], Any], str, Any]] = [
    (c.boolean, "true", True),
    (c.boolean, "YES", True),
    (c.boolean, "on", True),
    (c.boolean, "1", True),
    (c.boolean, "False", False),
    (c.boolean, "no", False),
    (c.boolean, "off", False),
    (c.boolean, "0", False),
    (c.integer, "42", 42),
    (c.integer, "-3", -3),
    (c.integer, " 7 ", 7),
    (c.byte_size, "1024", 1024),
    (c.byte_size, "1KB", 1024),
    (c.byte_size, "50MB", 50 * 1024 * 1024),
    (c.byte_size, "50mb", 50 * 1024 * 1024),
    (c.byte_size, "1GB", 1024**3),
    (c.byte_size, "0", 0),
    (c.octal, "022", 0o22),
    (c.octal, "0700", 0o700),
    (c.octal, "77", 0o77),
    (c.signal_number, "TERM", signal.SIGTERM),
    (c.signal_number, "SIGTERM", signal.SIGTERM),
    (c.signal_number, "term", signal.SIGTERM),
    (c.signal_number, "15", signal.SIGTERM),
    (c.signal_number, "KILL", signal.SIGKILL),
    (c.signal_number, "usr1", signal.SIGUSR1),
    (c.signal_number, "1", signal.SIGHUP),
    (c.exitcodes, "0", frozenset({0})),
    (c.exitcodes, "0,2", frozenset({0, 2})),
    (c.exitcodes, "0, 2 ,255", frozenset({0, 2, 255})),
    (c.exitcodes, "", frozenset()),
    (c.auto_restart, "unexpected", AutoRestart.UNEXPECTED),
    (c.auto_restart, "true", AutoRestart.TRUE),
    (c.auto_restart, "Yes", AutoRestart.TRUE),
    (c.auto_restart, "false", AutoRestart.FALSE),
    (c.auto_restart, "0", AutoRestart.FALSE),
    (c.logging_level, "info", LogLevel.INFO),
    (c.logging_level, "WARN", LogLevel.WARN),
    (c.logging_level, "blather", LogLevel.BLATHER),
    (c.logging_level, "critical", LogLevel.CRITICAL),
    (c.process_or_group_name, " web ", "web"),
    (c.list_of_strings, "a, b,c", ("a", "b", "c")),
    (c.list_of_strings, "", ()),
    (c.dict_of_key_value_pairs, "A=1,B=2", {"A": "1", "B": "2"}),
    (c.dict_of_key_value_pairs, "A=\"1\",B='2',C=x", {"A": "1", "B": "2", "C": "x"}),
    (c.dict_of_key_value_pairs, "A=\"x,y\",B='a b'", {"A": "x,y", "B": "a b"}),
    (c.dict_of_key_value_pairs, "PATH=/usr/bin:/bin", {"PATH": "/usr/bin:/bin"}),
    (c.dict_of_key_value_pairs, "", {}),
    (c.inet_address, "127.0.0.1:9001", ("127.0.0.1", 9001)),
    (c.inet_address, "*:9001", ("", 9001)),
    (c.inet_address, ":9001", ("", 9001)),
    (c.inet_address, "9001", ("", 9001)),
    (c.inet_address, "LocalHost:80", ("localhost", 80)),
    (c.logfile_name, "NONE", None),
    (c.logfile_name, "off", None),
    (c.logfile_name, "AUTO", AUTO),
    (c.logfile_name, "syslog", c.SYSLOG),
    (c.logfile_name, "relative.log", "relative.log"),
    (c.logfile_name, "/tmp/x.log", "/tmp/x.log"),
    (c.name_to_uid, "root", 0),
    (c.name_to_uid, "0", 0),
    (c.colon_separated_user_group, "root", (0, -1)),
    (c.colon_separated_user_group, "root:root", (0, 0)),
    (c.colon_separated_user_group, "0:0", (0, 0)),
    (c.existing_directory, "/tmp", "/tmp"),
    (c.existing_dirpath, "/tmp/some.file", "/tmp/some.file"),
    (c.existing_dirpath, "bare.file", "bare.file"),
    (c.port_number, "65535", 65535),
    (c.duration, "50ms", 0.05),
    (c.duration, "30s", 30.0),
    (c.duration, "15m", 900.0),
    (c.duration, "12h", 43200.0),
    (c.duration, " 7D ", 604800.0),
    (c.duration, "2w", 1209600.0),
    (c.duration, "0ms", 0.0),
    (c.positive_seconds, "1.5", 1.5),
    (c.positive_seconds, "2500ms", 2.5),
    (c.integer_at_least(0), "0", 0),
    (c.integer_at_least(1), " 7 ", 7),
]

BAD: list[tuple[Callable[[str], Any], str, str]] = [
    (c.boolean, "maybe", "not a boolean (use true/false, yes/no, on/off, 1/0)"),
    (c.boolean, "", "not a boolean (use true/false, yes/no, on/off, 1/0)"),
    (c.integer, "ten", "not an integer"),
    (c.integer, "1.5", "not an integer"),
    (c.byte_size, "10XB", "not a byte size (like 1024, 1KB, 50MB, 1GB)"),
    (c.byte_size, "MB", "not a byte size (like 1024, 1KB, 50MB, 1GB)"),
    (c.octal, "089", "not an octal number"),
    (c.octal, "rwx", "not an octal number"),
    (c.duration, "7", "not a duration (e.g. 50ms, 30s, 15m, 12h, 7d, 2w)"),
    (c.duration, "soon", "not a duration (e.g. 50ms, 30s, 15m, 12h, 7d, 2w)"),
    (c.positive_seconds, "0", "must be more than 0 seconds"),
    (c.positive_seconds, "0s", "must be more than 0 seconds"),
    (c.positive_seconds, "nan", "must be more than 0 seconds"),
    (c.positive_seconds, "later", "not a duration (e.g. 50ms, 30s, 15m, 12h, 7d, 2w)"),
    (c.integer_at_least(1), "0", "must be >= 1"),
    (c.integer_at_least(0), "many", "not an integer"),
    (c.signal_number, "NOPE", "not a signal name"),
    (c.signal_number, "0", "not a signal number"),
    (c.signal_number, "999", "not a signal number"),
    (c.exitcodes, "0,256", "exit codes must be between 0 and 255"),
    (c.exitcodes, "-1", "exit codes must be between 0 and 255"),
    (c.exitcodes, "a,b", "not a list of exit codes (like 0,2)"),
    (c.auto_restart, "sometimes", "not an autorestart value (use true, false or unexpected)"),
    (
        c.logging_level,
        "loud",
        "not a log level (use critical, error, warn, info, debug, trace or blather)",
    ),
    (c.process_or_group_name, "a b", "a name must not contain ' '"),
    (c.process_or_group_name, "a:b", "a name must not contain ':'"),
    (c.process_or_group_name, "a/b", "a name must not contain '/'"),
    (c.dict_of_key_value_pairs, "A=1,B", "not KEY=value pairs separated by commas"),
    (c.dict_of_key_value_pairs, "A=b=c", "not KEY=value pairs separated by commas"),
    (c.dict_of_key_value_pairs, "A='1", "not KEY=value pairs (no closing quotation)"),
    (c.inet_address, "host:", "no port number"),
    (c.inet_address, "host:http", "not a port number"),
    (c.inet_address, "70000", "port must be between 1 and 65535"),
    (c.inet_address, "0", "port must be between 1 and 65535"),
    (c.logfile_name, "/no/such/dir/x.log", "the directory of this path does not exist"),
    (c.name_to_uid, "no-such-user-xyz", "no such user"),
    (c.name_to_uid, "987654", "no such user id"),
    (
        c.colon_separated_user_group,
        "root:no-such-group-xyz",
        "not a user:group on this system (no such group)",
    ),
    (c.existing_directory, "/no/such/dir", "not an existing directory"),
    (c.existing_dirpath, "/no/such/dir/f", "the directory of this path does not exist"),
]


@pytest.mark.parametrize(("converter", "text", "expected"), GOOD)
def test_accepted_spellings(converter: Callable[[str], Any], text: str, expected: Any) -> None:
    """Each spelling supervisord accepts converts to the same value."""
    assert converter(text) == expected


@pytest.mark.parametrize(("converter", "text", "reason"), BAD)
def test_rejected_spellings(converter: Callable[[str], Any], text: str, reason: str) -> None:
    """Each spelling supervisord rejects raises ValueError with our short reason."""
    with pytest.raises(ValueError) as caught:
        converter(text)
    assert str(caught.value) == reason


def test_home_is_expanded_in_paths() -> None:
    """``~`` in a log path or directory is the user's home, as in supervisord."""
    home = os.path.expanduser("~")
    assert c.existing_dirpath("~/x.log") == os.path.join(home, "x.log")
    assert c.existing_directory("~") == home


def test_normalize_path_is_absolute(tmp_path: Path) -> None:
    """normalize_path makes relative paths absolute and folds ``..``."""
    assert c.normalize_path(f"{tmp_path}/a/../b") == f"{tmp_path}/b"
    assert os.path.isabs(c.normalize_path("x"))


def test_gid_for_uid_is_the_primary_group() -> None:
    """gid_for_uid answers the passwd entry's group."""
    assert c.gid_for_uid(0) == pwd.getpwuid(0).pw_gid
