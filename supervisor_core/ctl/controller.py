"""The plumbing every superctl command shares: the session, its server, output and status.

Rules of this file (and of the ``*_commands`` modules that build on it):
- Every ``do_<action>`` matches supervisorctl 4.3's observable behaviour for that
  action: the lines it prints, in order, and the exit status it leaves behind
  (LSB init codes; ``status`` uses LSB status codes 3 and 4).
- The exit status is sticky: a later success never resets an earlier failure, except
  where supervisorctl does so on purpose (``open`` restores the status it had).
- I/O is injected: the remote API comes from ``api_factory`` (a fresh proxy per use,
  as supervisorctl does), followed logs from ``stream_factory``, prompts from
  ``input_fn``/``getpass_fn``, so unit tests drive everything with fakes.
- Any unexpected exception inside a command is printed as one ``error: ...`` line
  and sets status 1; it never escapes :meth:`ControllerBase.onecmd`.
"""

from __future__ import annotations

import errno
import getpass
import traceback
import xmlrpc.client
from collections.abc import Callable
from typing import Protocol, TextIO

from supervisor_core.ctl import superd_commands
from supervisor_core.ctl.api import ResultDict, RpcApi, SupervisorApi
from supervisor_core.ctl.codes import API_VERSION, ExitStatus, Fault, exitstatus_for_fault
from supervisor_core.ctl.options import CtlOptions
from supervisor_core.ctl.transport import LogStream, StreamError, make_server_proxy

# The characters cmd.Cmd treats as part of an action name.
IDENTCHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class Stream(Protocol):
    """A followed log (``transport.LogStream`` or a test fake)."""

    def follow(self, sink: Callable[[str], None]) -> StreamError | None:
        """Feed log text to ``sink`` until the stream ends or is closed."""

    def close(self) -> None:
        """Stop following, from any thread."""


ApiFactory = Callable[[str, str | None, str | None], SupervisorApi]
StreamFactory = Callable[[str, str, str | None, str | None], Stream]


def rpc_api(serverurl: str, username: str | None, password: str | None) -> SupervisorApi:
    """The production :data:`ApiFactory`: XML-RPC to ``serverurl``."""
    return RpcApi(make_server_proxy(serverurl, username, password))


def parse_line(line: str) -> tuple[str | None, str, str]:
    """Split a command line the way ``cmd.Cmd.parseline`` does: ``(action, arg, line)``.

    ``?x`` means ``help x``; the action is the leading run of identifier characters
    (None when the line starts with anything else, e.g. ``!``).
    """
    line = line.strip()
    if not line:
        return None, "", line
    if line[0] == "?":
        line = "help " + line[1:]
    elif line[0] == "!":
        return None, "", line
    end = 0
    while end < len(line) and line[end] in IDENTCHARS:
        end += 1
    return line[:end], line[end:].strip(), line


def error_line(error: BaseException) -> str:
    """supervisorctl's one-line report of an unexpected exception.

    ``error: <class>, <message>: file: <file> line: <line>`` where file and line are
    those of the innermost traceback frame.
    """
    frames = traceback.extract_tb(error.__traceback__)
    filename, lineno = (frames[-1].filename, frames[-1].lineno) if frames else ("?", 0)
    return f"error: {type(error)}, {error}: file: {filename} line: {lineno}"


def fault_result(error: xmlrpc.client.Fault, group: str, process: str) -> ResultDict:
    """A per-process result struct built from a single-process call's fault."""
    return {
        "status": error.faultCode,
        "name": process,
        "group": group,
        "description": error.faultString,
    }


class ControllerBase:
    """A superctl session without its actions: settings, connection, output, exit status.

    The action mixins (``process_commands``, ``log_commands``, ``config_commands``,
    ``daemon_commands``) add ``do_<action>`` methods; ``commands.Controller`` combines
    them.
    """

    def __init__(
        self,
        options: CtlOptions,
        *,
        stdout: TextIO,
        stderr: TextIO,
        api_factory: ApiFactory = rpc_api,
        stream_factory: StreamFactory = LogStream,
        input_fn: Callable[[str], str] = input,
        getpass_fn: Callable[[str], str] = getpass.getpass,
    ) -> None:
        self.serverurl = options.serverurl
        self.username = options.username
        self.password = options.password
        self.prompt = options.prompt
        self.interactive = options.interactive
        self.exitstatus: int = ExitStatus.SUCCESS
        self.stdout = stdout
        self.stderr = stderr
        self._api_factory = api_factory
        self._stream_factory = stream_factory
        self._input = input_fn
        self._getpass = getpass_fn
        self._api: SupervisorApi | None = None
        self._api_key: tuple[str, str | None, str | None] | None = None
        self._handlers: dict[str, Callable[[str], bool | None]] = {
            name[3:]: getattr(self, name) for name in dir(self) if name.startswith("do_")
        }

    # -- plumbing -------------------------------------------------------------

    @property
    def actions(self) -> list[str]:
        """Every action name this controller answers to (for completion)."""
        return sorted(name for name in self._handlers if name != "EOF")

    def output(self, message: str) -> None:
        """Print one line of output."""
        self.stdout.write(message + "\n")
        self.stdout.flush()

    def _write_raw(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def get_supervisor(self) -> SupervisorApi:
        """The API client for the current server URL and credentials.

        One client (one persistent connection) is kept while the URL and credentials
        stay the same; ``open`` or a login in the shell replaces it.
        """
        key = (self.serverurl, self.username, self.password)
        if self._api is None or self._api_key != key:
            self.close()
            self._api = self._api_factory(*key)
            self._api_key = key
        return self._api

    def close(self) -> None:
        """Close the connection to the server, if one is open."""
        if self._api is not None:
            self._api.close()
            self._api = None

    def onecmd(self, line: str) -> bool:
        """Run one command line; True when the shell should stop (``quit``, EOF)."""
        action, arg, line = parse_line(line)
        if not line:
            return False
        handler = self._handlers.get(action) if action else None
        if handler is None:
            self.output(f"*** Unknown syntax: {line}")
            self.exitstatus = ExitStatus.GENERIC
            return False
        if action != "help" and superd_commands.wants_help(arg):
            self.output(superd_commands.help_for(str(action)))
            return False
        try:
            return bool(handler(arg))
        except xmlrpc.client.ProtocolError as error:
            if error.errcode != 401:
                self.exitstatus = ExitStatus.GENERIC
                self.output(error_line(error))
                return False
            self.output("Server requires authentication")
            if self.interactive:
                self.username = self._input("Username:")
                self.password = self._getpass("Password:")
                self.output("")
                return self.onecmd(line)
            self.exitstatus = ExitStatus.GENERIC
            self.output(error_line(error))
            return False
        except Exception as error:  # noqa: BLE001 - any failure is reported as one line, as supervisorctl does
            self.output(error_line(error))
            self.exitstatus = ExitStatus.GENERIC
            return False

    def upcheck(self) -> bool:
        """Whether the server answers with the API version we speak; prints why not."""
        try:
            version = self.get_supervisor().getVersion()
        except xmlrpc.client.Fault as error:
            if error.faultCode == Fault.UNKNOWN_METHOD:
                self.output(
                    "Sorry, supervisord responded but did not recognize the supervisor "
                    "namespace commands that supervisorctl uses to control it.  Please "
                    "check that the [rpcinterface:supervisor] section is enabled in the "
                    "configuration file (see sample.conf)."
                )
                self.exitstatus = ExitStatus.UNIMPLEMENTED_FEATURE
                return False
            self.exitstatus = ExitStatus.GENERIC
            raise
        except OSError as error:
            if error.errno == errno.ECONNREFUSED:
                self.output(f"{self.serverurl} refused connection")
                self.exitstatus = ExitStatus.INSUFFICIENT_PRIVILEGES
                return False
            if error.errno == errno.ENOENT:
                self.output(f"{self.serverurl} no such file")
                self.exitstatus = ExitStatus.NOT_RUNNING
                return False
            self.exitstatus = ExitStatus.GENERIC
            raise
        if version != API_VERSION:
            self.output(
                "Sorry, this version of supervisorctl expects to talk to a server with "
                f"API version {API_VERSION}, but the remote version is {version}."
            )
            self.exitstatus = ExitStatus.NOT_INSTALLED
            return False
        return True

    def _set_from_fault(self, fault: int, ignored: int | None = None) -> None:
        self.exitstatus = exitstatus_for_fault(self.exitstatus, fault, ignored)

    def _help(self, action: str) -> None:
        self.output(superd_commands.help_for(action))

    def _usage_error(self, message: str, action: str, status: int = ExitStatus.GENERIC) -> None:
        self.output(message)
        self.exitstatus = status
        self._help(action)

    def _check_encoding(self) -> None:
        # Streams without an encoding (e.g. StringIO) get no warning, as in supervisorctl.
        encoding = getattr(self.stdout, "encoding", None)
        if encoding and not encoding.lower().startswith("utf"):
            self.output(
                f"Warning: sys.stdout.encoding is set to {encoding}, so Unicode "
                "output may fail. Check your LANG and PYTHONIOENCODING environment "
                "settings."
            )
