"""Pure HTML rendering of the web UI's status and tail pages from control snapshots.

Rules of this file:
- Every value that reaches the HTML passes through :func:`escape` exactly once, at
  the moment it is put into markup (text and attribute values alike); templates are
  :class:`string.Template` files holding only fixed markup and ``$placeholders``.
- No I/O and no clock: the caller passes snapshots, the time and the log bytes.
- The markup carries what ``superd.js`` needs to update a row in place from
  ``/events`` (``data-namespec``, ``data-state``, ``data-start``, ...); which buttons a
  state offers is decided here once and written into each button's ``data-states``,
  and which causes make a start a restart (``lifecycle.AUTOMATIC_RESTART_CAUSES``)
  into the body's ``data-restart-causes``, so the script never has its own copy of
  either rule.
"""

from __future__ import annotations

import html
import string
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from supervisor_core import SUPERVISORD_COMPAT_VERSION, __version__, control
from supervisor_core.http.structs import describe
from supervisor_core.http.webui.actions import Action, Outcome
from supervisor_core.lifecycle import AUTOMATIC_RESTART_CAUSES, ProcessState, SupervisorState

FEED_SIZE = 50
"""How many events the live feed keeps."""
RESTART_CAUSES = " ".join(sorted(cause.value for cause in AUTOMATIC_RESTART_CAUSES))
"""The causes of a restart, as the page's script reads them (``data-restart-causes``)."""


def escape(value: object) -> str:
    """``value`` as HTML text or a quoted attribute value (``& < > " '`` escaped)."""
    return html.escape(str(value), quote=True)


def query_value(value: str) -> str:
    """``value`` percent-encoded for a query string or a path segment (``:`` kept)."""
    return urllib.parse.quote(value, safe=":")


def _template(name: str) -> string.Template:
    return string.Template(
        resources.files("supervisor_core.http.webui").joinpath(name).read_text("utf-8")
    )


_STATUS = _template("status.html")
_TAIL = _template("tail.html")


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """One per-process action button and the states in which it is offered."""

    action: Action
    label: str
    states: frozenset[ProcessState]


BUTTONS: tuple[Button, ...] = (
    Button(
        action=Action.START,
        label="Start",
        states=frozenset({ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL}),
    ),
    Button(action=Action.RESTART, label="Restart", states=frozenset({ProcessState.RUNNING})),
    # supervisord offers stop only while RUNNING; a process stuck in BACKOFF or a long
    # STARTING is exactly the one an operator wants to stop.
    Button(
        action=Action.STOP,
        label="Stop",
        states=frozenset({ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF}),
    ),
    Button(action=Action.CLEARLOG, label="Clear log", states=frozenset(ProcessState)),
)


def state_class(state: ProcessState) -> str:
    """The CSS class of a state's badge: running, error (FATAL, BACKOFF) or nominal."""
    if state is ProcessState.RUNNING:
        return "state-running"
    if state in (ProcessState.FATAL, ProcessState.BACKOFF):
        return "state-error"
    return "state-nominal"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusView:
    """Everything the status page shows, taken from the control protocol at one moment."""

    identification: str
    daemon_state: SupervisorState
    daemon_pid: int
    processes: Sequence[control.ProcessInfo]
    now: float
    outcome: Outcome | None = None


def sorted_processes(groups: Iterable[control.GroupInfo]) -> list[control.ProcessInfo]:
    """Every process, sorted by group then name as supervisord's status page lists them."""
    return sorted((p for g in groups for p in g.processes), key=lambda p: (p.group, p.name))


def render_status(view: StatusView) -> str:
    """The status page's HTML."""
    if view.processes:
        table = _table(view.processes)
    else:
        table = '<p class="empty">No processes are configured.</p>'
    daemon_class = (
        "state-running" if view.daemon_state is SupervisorState.RUNNING else "state-error"
    )
    return _STATUS.substitute(
        identification=escape(view.identification),
        server_now=escape(f"{view.now:.3f}"),
        restart_causes=escape(RESTART_CAUSES),
        daemon_state=escape(view.daemon_state.name),
        daemon_class=daemon_class,
        daemon_pid=escape(view.daemon_pid),
        version=escape(__version__),
        compat_version=escape(SUPERVISORD_COMPAT_VERSION),
        message=render_message(view.outcome),
        table=table,
        feed_size=FEED_SIZE,
        feed_options=feed_options(view.processes),
    )


def render_message(outcome: Outcome | None) -> str:
    """The banner after an action (``role=alert`` for failures), or nothing."""
    if outcome is None:
        return ""
    if outcome.ok:
        return f'<p class="message ok" role="status">{escape(outcome.message)}</p>'
    return f'<p class="message error" role="alert">{escape(outcome.message)}</p>'


def _table(processes: Sequence[control.ProcessInfo]) -> str:
    rows = "\n".join(render_row(p) for p in processes)
    restarts_title = (
        f"automatic restarts (starts caused by {RESTART_CAUSES.replace(' ', ', ')})"
        " since superd started"
    )
    return (
        '<div class="table-wrap"><table class="status">\n<thead><tr><th>State</th>'
        "<th>Description</th><th>Name</th>"
        f'<th class="restarts" hidden title="{escape(restarts_title)}">Restarts</th>'
        '<th class="cpu" hidden title="CPU of the process tree since the last reading">CPU</th>'
        '<th class="mem" hidden title="resident memory of the process tree">Memory</th>'
        '<th class="exit" hidden title="how the last run ended">Last exit</th>'
        "<th>Actions</th></tr></thead>\n"
        f"<tbody>\n{rows}\n</tbody>\n</table></div>"
    )


def feed_options(processes: Sequence[control.ProcessInfo]) -> str:
    """The ``<option>`` list of the feed's program filter: every program, then all."""
    options = ['<option value="">all programs</option>']
    options.extend(
        f'<option value="{escape(p.namespec)}">{escape(p.namespec)}</option>' for p in processes
    )
    return "".join(options)


def render_row(info: control.ProcessInfo) -> str:
    """One process's ``<tr>``: state and storm badges, description, name (tail link), the
    live-only cells (restarts, CPU, memory, last exit: filled by the script), actions."""
    namespec = info.namespec
    state = info.state.name
    buttons = "".join(
        f'<button type="submit" name="action" value="{button.action.value}"'
        f' data-states="{" ".join(sorted(s.name for s in button.states))}"'
        f"{'' if info.state in button.states else ' hidden'}>{escape(button.label)}</button>"
        for button in BUTTONS
    )
    links = []
    if info.stdout_logfile:
        links.append(_new_tab_link(f"logtail/{query_value(namespec)}", "tail -f stdout"))
    if info.stderr_logfile:
        links.append(_new_tab_link(f"logtail/{query_value(namespec)}/stderr", "tail -f stderr"))
    return (
        f'<tr data-namespec="{escape(namespec)}" data-state="{state}" data-pid="{info.pid}"'
        f' data-start="{info.start:.3f}">'
        f'<td class="state" data-label="State">'
        f'<span class="badge {state_class(info.state)}">{state}</span>'
        '<span class="storm" hidden>STORM</span></td>'
        f'<td class="desc" data-label="Description">{escape(describe(info))}</td>'
        f'<td class="name" data-label="Name">'
        f'<a href="tail.html?processname={escape(query_value(namespec))}">'
        f"{escape(namespec)}</a></td>"
        '<td class="restarts" data-label="Restarts" hidden>0</td>'
        '<td class="cpu" data-label="CPU" hidden>\u2014</td>'
        '<td class="mem" data-label="Memory" hidden>\u2014</td>'
        '<td class="exit" data-label="Last exit" hidden>\u2014</td>'
        '<td class="actions" data-label="Actions"><form method="post" action="index.html">'
        f'<input type="hidden" name="processname" value="{escape(namespec)}">{buttons}</form>'
        f"{''.join(links)}</td></tr>"
    )


def _new_tab_link(href: str, text: str) -> str:
    return (
        f'<a class="tailf" href="{escape(href)}" target="_blank" rel="noopener">{escape(text)}</a>'
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TailView:
    """What the tail page shows: whose log, which channel, how much, and the text."""

    processname: str | None
    channel: str = "stdout"
    limit: int
    path: str = ""
    text: str


def render_tail(view: TailView) -> str:
    """The tail page's HTML: the text, a refresh link and the ``/logtail`` (tail -f) link."""
    name = view.processname
    links: list[str] = []
    if name:
        quoted = query_value(name)
        refresh = f"tail.html?processname={quoted}&limit={view.limit}"
        if view.channel == "stderr":
            refresh += "&channel=stderr"
        other = "stdout" if view.channel == "stderr" else "stderr"
        switch = f"tail.html?processname={quoted}&limit={view.limit}&channel={other}"
        follow = f"logtail/{quoted}" + ("/stderr" if view.channel == "stderr" else "")
        links = [
            f'<a class="button" href="{escape(refresh)}">Refresh</a>',
            f'<a class="button" href="{escape(switch)}">Show {other}</a>',
            _new_tab_link(follow, f"tail -f {view.channel}"),
        ]
        summary = f"last {view.limit} bytes of {view.channel}" + (
            f" ({view.path})" if view.path else ""
        )
    else:
        summary = "no process chosen"
    return _TAIL.substitute(
        processname=escape(name or "?"),
        summary=escape(summary),
        links="\n  ".join(links),
        body=escape(view.text),
    )
