"""The controller's own logic against a fake API: lines printed and exit status."""

from __future__ import annotations

import io
import xmlrpc.client
from collections.abc import Iterator

import pytest

from supervisor_core.ctl.codes import Fault
from supervisor_core.ctl.commands import Controller
from supervisor_core.ctl.controller import Stream, error_line, parse_line
from supervisor_core.ctl.options import CtlOptions
from supervisor_core.ctl.transport import StreamError

from .fakes import FakeApi, FakeProcess, FakeStream, fault, no_socket, refused


class Session:
    """A controller wired to a fake API, fake streams and scripted input."""

    def __init__(
        self,
        api: FakeApi,
        *,
        interactive: bool = False,
        answers: tuple[str, ...] = (),
        streams: tuple[FakeStream, ...] = (),
        serverurl: str = "unix:///tmp/s.sock",
    ) -> None:
        self.api = api
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.answers: Iterator[str] = iter(answers)
        self.streams = list(streams)
        self.opened: list[tuple[str, str, str | None, str | None]] = []
        self.controller = Controller(
            CtlOptions(serverurl=serverurl, interactive=interactive, username="u", password="p"),
            stdout=self.out,
            stderr=self.err,
            api_factory=lambda url, user, password: api,
            stream_factory=self._stream,
            input_fn=self._answer,
            getpass_fn=self._answer,
        )

    def _answer(self, prompt: str) -> str:
        self.out.write(prompt)
        try:
            return next(self.answers)
        except StopIteration:
            raise EOFError from None

    def _stream(self, url: str, path: str, user: str | None, password: str | None) -> Stream:
        self.opened.append((url, path, user, password))
        return self.streams.pop(0)

    def run(self, line: str) -> tuple[list[str], int]:
        self.controller.onecmd(line)
        return self.out.getvalue().splitlines(), self.controller.exitstatus


def standard() -> FakeApi:
    return FakeApi(
        processes=[
            FakeProcess(group="web", name="web"),
            FakeProcess(group="g", name="a"),
            FakeProcess(group="g", name="b", state=0),
        ]
    )


def test_parse_line_like_cmd() -> None:
    """Lines split like cmd.Cmd: identifier prefix, stripped rest, ``?`` means help."""
    assert parse_line("  status  web  ") == ("status", "web", "status  web")
    assert parse_line("?stop") == ("help", "stop", "help stop")
    assert parse_line("!ls") == (None, "", "!ls")
    assert parse_line("start-all") == ("start", "-all", "start-all")
    assert parse_line("   ") == (None, "", "")


def test_status_all_exits_3_when_something_is_stopped() -> None:
    """``status`` lists everything and exits 3 if any process is in a stopped state."""
    lines, status = Session(standard()).run("status")
    assert [line.split()[0] for line in lines] == ["web", "g:a", "g:b"]
    assert status == 3


def test_status_running_subset_exits_0() -> None:
    """Status of running processes only exits 0."""
    lines, status = Session(standard()).run("status web g:a")
    assert len(lines) == 2
    assert status == 0


def test_status_unknown_name_exits_4_unless_something_selected_is_stopped() -> None:
    """Unknown names print errors first and exit 4; a stopped match turns it into 3."""
    lines, status = Session(standard()).run("status web nope")
    assert lines[0] == "nope: ERROR (no such process)"
    assert status == 4
    _, status = Session(standard()).run("status nope g:*")
    assert status == 3


@pytest.mark.parametrize(
    ("error", "message", "status"),
    [
        (refused(), "unix:///tmp/s.sock refused connection", 4),
        (no_socket(), "unix:///tmp/s.sock no such file", 4),
    ],
)
def test_status_when_server_unreachable_exits_4(error: OSError, message: str, status: int) -> None:
    """``status`` exits 4 (unknown) whatever the reason the server is unreachable."""
    api = standard()
    api.error = error
    assert Session(api).run("status") == ([message], status)


@pytest.mark.parametrize(("error", "status"), [(refused(), 4), (no_socket(), 7)])
def test_other_actions_when_server_unreachable(error: OSError, status: int) -> None:
    """Other actions exit 4 when refused and 7 when the socket file is missing."""
    api = standard()
    api.error = error
    assert Session(api).run("start web")[1] == status


def test_api_version_mismatch_and_missing_namespace() -> None:
    """A wrong API version exits 5; a server without the namespace exits 3."""
    api = standard()
    api.version = "2.0"
    lines, status = Session(api).run("stop web")
    assert "remote version is 2.0." in lines[0]
    assert status == 5
    api = standard()
    api.error = xmlrpc.client.Fault(Fault.UNKNOWN_METHOD, "UNKNOWN_METHOD")
    lines, status = Session(api).run("pid")
    assert lines[0].startswith("Sorry, supervisord responded but did not recognize")
    assert status == 3


def test_start_already_started_is_not_an_error() -> None:
    """Starting a running process prints an error line but keeps exit status 0."""
    assert Session(standard()).run("start web") == (["web: ERROR (already started)"], 0)


def test_start_spawn_error_exits_7_and_bad_group_exits_2() -> None:
    """A spawn error means "not running" (7); an unknown group is invalid args (2)."""
    api = standard()
    api.processes[2].start_fault = Fault.SPAWN_ERROR
    lines, status = Session(api).run("start g:*")
    assert lines == ["g:a: ERROR (already started)", "g:b: ERROR (spawn error)"]
    assert status == 7
    assert Session(standard()).run("start nog:*") == (["nog: ERROR (no such group)"], 2)


def test_start_without_names_exits_2_with_help() -> None:
    """``start`` with no name prints the error, exits 2 and shows start's help."""
    lines, status = Session(standard()).run("start")
    assert lines[0] == "Error: start requires a process name"
    assert lines[1] == "start <name>\t\tStart a process"
    assert status == 2


def test_stop_all_and_names() -> None:
    """``stop all`` reports each stopped process; stopping a stopped one is not an error."""
    api = standard()
    lines, status = Session(api).run("stop all")
    assert lines == ["web: stopped", "g:a: stopped"]
    assert status == 0
    assert Session(api).run("stop web") == (["web: ERROR (not running)"], 0)
    assert Session(api).run("stop nope") == (["nope: ERROR (no such process)"], 1)
    assert Session(api).run("stop nog:*") == (["nog: ERROR (no such group)"], 1)


def test_restart_stops_then_starts() -> None:
    """``restart`` is stop then start, with their lines in that order."""
    api = standard()
    lines, status = Session(api).run("restart g:*")
    assert lines == ["g:a: stopped", "g:b: ERROR (not running)", "g:a: started", "g:b: started"]
    assert status == 0


def test_signal_results_and_errors() -> None:
    """``signal`` reports per process; not running gives 7, a bad signal 1."""
    api = standard()
    assert Session(api).run("signal HUP web") == (["web: signalled"], 0)
    assert Session(api).run("signal HUP g:b") == (["g:b: ERROR (not running)"], 7)
    assert Session(api).run("signal BOGUS web") == (["web: ERROR (bad signal name)"], 1)
    lines, status = Session(api).run("signal HUP")
    assert lines[0] == "Error: signal requires a signal name and a process name"
    assert status == 1


def test_pid_variants() -> None:
    """``pid`` prints supervisord's pid, a process's pid (0 exits 7) or every pid."""
    assert Session(standard()).run("pid") == (["42"], 0)
    assert Session(standard()).run("pid g:b") == (["0"], 7)
    assert Session(standard()).run("pid all") == (["100", "100", "0"], 0)
    assert Session(standard()).run("pid nope") == (["No such process nope"], 1)


def test_tail_reads_the_end_of_the_log() -> None:
    """``tail -N name`` asks for the last N bytes and prints them plus a newline."""
    session = Session(standard())
    lines, status = session.run("tail -3 web")
    assert ("readProcessStdoutLog", ("web", -3, 0)) in session.api.calls
    assert (lines, status) == (["ne", ""], 0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("tail", "Error: too few arguments"),
        ("tail a b c d", "Error: too many arguments"),
        ("tail -f", "Error: tail requires process name"),
        ("tail web foo", "Error: bad channel 'foo'"),
        ("tail -x web", "Error: bad argument -x"),
        ("tail nope", "nope: ERROR (no such process name)"),
        ("tail web stderr", "web: ERROR (no log file)"),
        ("maintail x", "Error: bad argument x"),
        ("maintail -x", "Error: bad argument -x"),
        ("maintail -1 -2", "Error: too many arguments"),
    ],
)
def test_tail_errors_exit_1(line: str, message: str) -> None:
    """Bad tail/maintail arguments and log faults print one error and exit 1."""
    lines, status = Session(standard()).run(line)
    assert lines[0] == message
    assert status == 1


def test_tail_f_streams_until_interrupted() -> None:
    """``tail -f`` follows /logtail/NAME/CHANNEL and ends with a newline on Ctrl-C."""
    session = Session(standard(), streams=(FakeStream(pieces=("a\n", "b"), interrupt=True),))
    lines, status = session.run("tail -f g:a stderr")
    assert lines == ["==> Press Ctrl-C to exit <==", "a", "b"]
    assert session.opened == [("unix:///tmp/s.sock", "/logtail/g:a/stderr", "u", "p")]
    assert status == 0


def test_tail_f_stream_errors_go_to_stderr() -> None:
    """A stream that cannot be read prints ``URL Cannot read, status code N`` on stderr."""
    problem = StreamError(url="unix:///x/mainlogtail", message="Cannot read, status code 404")
    session = Session(standard(), streams=(FakeStream(problem=problem),))
    lines, status = session.run("maintail -f")
    assert lines == ["==> Press Ctrl-C to exit <=="]
    assert session.err.getvalue() == "unix:///x/mainlogtail Cannot read, status code 404\n"
    assert status == 0


def test_maintail_and_clear() -> None:
    """``maintail`` prints the main log; ``clear`` reports each process."""
    assert Session(standard()).run("maintail") == (["main log"], 0)
    assert Session(standard()).run("clear web nope") == (
        ["web: cleared", "nope: ERROR (no such process)"],
        1,
    )
    lines, _ = Session(standard()).run("clear all")
    assert lines == ["web: cleared", "g:a: cleared", "g:b: cleared"]


def test_reread_and_update_apply_changes_in_order() -> None:
    """``update`` stops/removes dropped groups, re-adds changed ones, adds new ones."""
    api = standard()
    api.reload = [[["new"], ["g"], ["web"]]]
    assert Session(api).run("reread")[0] == ["g: changed", "new: available", "web: disappeared"]
    lines, status = Session(api).run("update")
    assert lines == [
        "web: stopped",
        "web: removed process group",
        "g: stopped",
        "g: updated process group",
        "new: added process group",
    ]
    assert status == 0


def test_update_named_groups_only_and_unknown_group() -> None:
    """``update NAME`` touches only NAME; unknown names print an error and exit 1."""
    api = standard()
    api.reload = [[["new"], [], ["web"]]]
    lines, status = Session(api).run("update new zz")
    assert lines == ["ERROR: no such group: zz", "new: added process group"]
    assert status == 1


def test_update_all_means_everything_and_failed_stops_keep_the_group() -> None:
    """``update all`` is plain update; a group whose stop FAILED is not removed."""
    api = standard()
    api.reload = [[[], [], ["web"]]]
    api.stopProcessGroup = lambda name: [  # type: ignore[method-assign]
        {"name": "web", "group": "web", "status": Fault.FAILED, "description": "x"}
    ]
    lines, status = Session(api).run("update all")
    assert lines == ["web: stopped", "web: has problems; not removing"]
    assert status == 1


def test_add_and_remove() -> None:
    """add/remove report per group; already-added keeps 0, still-running exits 1."""
    api = standard()
    api.reload = [[["new"], [], []]]
    assert Session(api).run("add new") == (["new: added process group"], 0)
    assert Session(api).run("add new") == (["ERROR: process group already active"], 0)
    assert Session(api).run("add zz") == (["ERROR: no such process/group: zz"], 1)
    assert Session(api).run("remove web") == (["ERROR: process/group still running: web"], 1)
    api.processes[0].state = 0
    assert Session(api).run("remove web") == (["web: removed process group"], 0)


def test_avail_and_version_reject_arguments() -> None:
    """Argument-less actions given arguments print an error, their help, and exit 1."""
    lines, status = Session(standard()).run("avail x")
    assert lines == [
        "Error: avail accepts no arguments",
        "avail\t\t\tDisplay all configured processes",
    ]
    assert status == 1
    assert Session(standard()).run("version") == (["4.3.0"], 0)
    assert Session(standard()).run("version x")[1] == 1


def test_unknown_syntax_and_help() -> None:
    """Unknown actions exit 1; ``help`` never fails."""
    assert Session(standard()).run("frobnicate now") == (["*** Unknown syntax: frobnicate now"], 1)
    assert Session(standard()).run("help nothing") == (["*** No help on nothing"], 0)


def test_shutdown_and_reload_one_shot_and_confirmed() -> None:
    """One-shot shutdown/reload act at once; in the shell they ask and need a yes."""
    api = standard()
    assert Session(api).run("shutdown") == (["Shut down"], 0)
    assert Session(api).run("reload") == (["Restarted supervisord"], 0)
    session = Session(api, interactive=True, answers=("n",))
    session.run("shutdown")
    assert session.out.getvalue() == "Really shut the remote supervisord process down y/N? "
    assert api.calls.count(("shutdown", ())) == 1
    session = Session(api, interactive=True, answers=("Yes",))
    assert session.run("reload")[0][-1].endswith("Restarted supervisord")


def test_shutdown_already_down() -> None:
    """Shutting down an absent server says so and exits 1; SHUTDOWN_STATE keeps 0."""
    api = standard()
    api.error = refused()
    assert Session(api, serverurl="http://h:1").run("shutdown") == (
        ["ERROR: http://h:1 refused connection (already shut down?)"],
        1,
    )
    api.error = fault(Fault.SHUTDOWN_STATE)
    assert Session(api).run("shutdown") == (["ERROR: already shutting down"], 0)


def test_reload_refused_for_an_unreadable_file_says_why() -> None:
    """A reload the daemon refuses with CANT_REREAD prints the fault and exits 1."""
    api = standard()
    api.error = fault(Fault.CANT_REREAD, "/etc/supervisord.conf:3: startsecs: not an integer")
    assert Session(api).run("reload") == (
        ["ERROR: CANT_REREAD: /etc/supervisord.conf:3: startsecs: not an integer"],
        1,
    )


def test_open_rejects_other_schemes_and_keeps_status() -> None:
    """``open`` wants http:// or unix:// and shows status without changing the exit code."""
    assert Session(standard()).run("open ftp://x") == (["ERROR: url must be http:// or unix://"], 1)
    session = Session(standard())
    lines, status = session.run("open http://127.0.0.1:9")
    assert session.controller.serverurl == "http://127.0.0.1:9"
    assert len(lines) == 3
    assert status == 0


def test_unauthorized_one_shot_reports_and_exits_1() -> None:
    """A 401 prints ``Server requires authentication`` then the error line, exit 1."""
    api = standard()
    api.error = xmlrpc.client.ProtocolError("127.0.0.1/RPC2", 401, "Unauthorized", {})
    lines, status = Session(api).run("status")
    assert lines[0] == "Server requires authentication"
    assert lines[1].startswith(
        "error: <class 'xmlrpc.client.ProtocolError'>, "
        "<ProtocolError for 127.0.0.1/RPC2: 401 Unauthorized>: file: "
    )
    assert status == 1


def test_unauthorized_in_shell_asks_for_credentials_and_retries() -> None:
    """In the shell a 401 prompts for username and password, then reruns the line."""
    api = standard()
    api.error = xmlrpc.client.ProtocolError("127.0.0.1/RPC2", 401, "Unauthorized", {})
    session = Session(api, interactive=True, answers=("bob", "pw"))
    original = api.getVersion

    def version_after_login() -> str:
        if session.controller.username == "bob":
            api.error = None
        return original()

    api.getVersion = version_after_login  # type: ignore[method-assign]
    lines, status = session.run("version")
    assert lines[0] == "Server requires authentication"
    assert lines[-1] == "4.3.0"
    assert session.controller.password == "pw"
    assert status == 0


def test_unexpected_errors_become_one_line() -> None:
    """Any other exception prints ``error: <class>, msg: file: F line: N`` and exits 1."""
    api = standard()
    api.getSupervisorVersion = lambda: 1 / 0  # type: ignore[method-assign,assignment,return-value]
    lines, status = Session(api).run("version")
    assert lines[0].startswith("error: <class 'ZeroDivisionError'>, division by zero: file: ")
    assert status == 1
    assert error_line(ValueError("x")) == "error: <class 'ValueError'>, x: file: ? line: 0"


def test_quit_exit_and_eof_end_the_shell() -> None:
    """quit, exit and EOF print an empty line and stop the loop."""
    for line in ("quit", "exit", "EOF"):
        session = Session(standard())
        assert session.controller.onecmd(line) is True
        assert session.out.getvalue() == "\n"


def test_fg_forwards_input_until_the_process_dies() -> None:
    """``fg`` streams both channels and sends each typed line to the process's stdin."""
    api = standard()

    def kill_after_second(fake: FakeApi) -> None:
        if len(fake.stdin) == 2:
            fake.processes[0].state = 100

    api.after_stdin = kill_after_second
    session = Session(
        api, answers=("one", "two"), streams=(FakeStream(pieces=("out\n",)), FakeStream())
    )
    lines, status = session.run("fg web")
    assert api.stdin == ["one\n", "two\n"]
    assert [path for _, path, _, _ in session.opened] == [
        "/logtail/web/stdout",
        "/logtail/web/stderr",
    ]
    assert lines[0] == "==> Press Ctrl-C to exit <=="
    # The followed output arrives on another thread: only its presence is certain.
    assert "out" in lines
    assert [line for line in lines if line != "out"][-2:] == [
        "Process got killed",
        "Exiting foreground",
    ]
    assert status == 0


def test_fg_end_of_input_and_errors() -> None:
    """EOF on input leaves fg; bad, missing and stopped names are errors (exit 1)."""
    session = Session(standard(), streams=(FakeStream(), FakeStream()))
    lines, _ = session.run("fg web")
    assert lines[-1] == "Exiting foreground"
    assert Session(standard()).run("fg nope") == (["ERROR: bad process name supplied"], 1)
    assert Session(standard()).run("fg g:b") == (["ERROR: process not running"], 1)
    assert Session(standard()).run("fg a b") == (["ERROR: too many process names supplied"], 1)
    assert Session(standard()).run("fg")[0][0] == "ERROR: no process name supplied"
