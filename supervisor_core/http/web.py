"""The web UI on the control plane: supervisord's status and tail pages, plus live updates.

Rules of this file:
- The URLs and the query-string API are supervisord's, so bookmarks and scripts
  keep working: ``/`` and ``/index.html`` (the status table; ``processname`` +
  ``action=start|stop|restart|clearlog``, ``action=refresh|restartall|stopall``,
  the ``message`` banner), ``/tail.html?processname=x&limit=N``, ``/ok.html``. Our
  own static files live under ``/webui/``. The pages are served by the same app,
  so the same basic auth as ``/RPC2`` guards them.
- Actions are accepted as POST (the page's own forms) and, for compatibility, as
  GET with supervisord's query string. A state-changing action must come from this
  page's own origin: a browser's ``Sec-Fetch-Site`` must be ``same-origin`` or
  ``none`` (typed URL, bookmark), or, from browsers that do not send it, ``Origin``
  must be ours. Basic-auth credentials are sent by the browser on cross-site
  requests too, so without this check any page could stop programs (CSRF).
- After an action the browser is redirected (303) to ``index.html?message=...``:
  reloading the page never repeats the action.
- Bad input (unknown action or process, bad ``limit`` or ``channel``) gets a page
  with a clear message and a 4xx/redirect, never a 500.
- Pages carry a strict Content-Security-Policy (no inline script, no third-party
  origin: the network is closed and the page needs nothing from outside).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlencode

from aiohttp import web

from supervisor_core import control
from supervisor_core.http import logfiles
from supervisor_core.http.requesters import requester_of
from supervisor_core.http.webui import render
from supervisor_core.http.webui.actions import Action, ActionRunner, Outcome, echo, find_process
from supervisor_core.logs import files

TAIL_DEFAULT = 1024
"""Bytes the tail page shows by default, and at least (supervisord's floor)."""
TAIL_MAX = 1024 * 1024
"""Bytes the tail page shows at most; ``/logtail`` is there for more."""
MAX_MESSAGE_CHARS = 500
"""The ``message`` banner is shortened beyond this (it echoes the query string)."""

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}
STATIC_FILES = ("superd.css", "superd.js")


def _load_static() -> dict[str, tuple[bytes, str]]:
    package = resources.files("supervisor_core.http.webui")
    return {
        name: (package.joinpath(name).read_bytes(), _STATIC_TYPES[name[name.rindex(".") :]])
        for name in STATIC_FILES
    }


def tail_limit(text: str | None) -> int:
    """The tail page's byte count from ``limit``: supervisord's floor of 1024, our cap.

    Anything but a plain decimal number means the default, as in supervisord.
    """
    if text is None or not (text.isascii() and text.isdigit()):
        return TAIL_DEFAULT
    return min(max(int(text), TAIL_DEFAULT), TAIL_MAX)


def cross_site_refusal(headers: Mapping[str, str], *, own_origin: str) -> str | None:
    """Why a state-changing request must be refused as cross-site, or None to allow it.

    Args:
        headers: the request headers (``Sec-Fetch-Site``, ``Origin``).
        own_origin: ``scheme://host[:port]`` of this server as the request reached it.
    """
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        if site in ("same-origin", "none"):
            return None
        return (
            f"ERROR: refused a {echo(site)} request (Sec-Fetch-Site): actions must come"
            " from this page; nothing was done"
        )
    origin = headers.get("Origin")
    if origin is None or origin == own_origin:
        return None
    return (
        f"ERROR: refused a request from origin {echo(origin)}: actions must come from"
        " this page; nothing was done"
    )


def message_location(outcome: Outcome) -> str:
    """Where the browser goes after an action: the status page with its message."""
    params = {"message": outcome.message}
    if not outcome.ok:
        params["level"] = "error"
    return "index.html?" + urlencode(params)


def _first_values(items: Mapping[str, object]) -> dict[str, str]:
    # supervisord keeps the first of repeated keys; non-text (file uploads) is ignored.
    result: dict[str, str] = {}
    for key, value in items.items():
        if isinstance(value, str):
            result.setdefault(key, value)
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class _Page:
    body: str
    status: int = 200


class WebUI:
    """The web UI's routes over a :class:`~supervisor_core.control.SupervisorControl`.

    Example:
        app.router.add_routes(WebUI(control).routes())  # make_app does this
    """

    def __init__(
        self,
        control_: control.SupervisorControl,
        *,
        action_timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Args:
        control_: the daemon (or a fake).
        action_timeout: seconds a start/stop/restart request waits for the outcome.
        clock: wall-clock seconds, for the "refreshed at" messages and uptimes.
        """
        self._control = control_
        self._clock = clock
        self._runner = ActionRunner(control_, timeout=action_timeout, clock=clock)
        self._static = _load_static()

    def routes(self) -> list[web.RouteDef]:
        """The route table entries (``/``, ``/index.html``, ``/tail.html``, ...)."""
        return [
            web.get("/", self.status),
            web.post("/", self.status),
            web.get("/index.html", self.status),
            web.post("/index.html", self.status),
            web.get("/tail.html", self.tail),
            web.post("/tail.html", self.tail),
            web.get("/ok.html", self.ok),
            web.get("/webui/{name}", self.static),
        ]

    # ----------------------------------------------------------------- handlers

    async def status(self, request: web.Request) -> web.StreamResponse:
        """The status table; runs an ``action`` first and redirects to its message."""
        form = await _form(request)
        action_text = form.get("action")
        if action_text and request.method in ("GET", "POST"):
            refused = self._refusal(request, action_text)
            if refused is not None:
                return self._status_page(Outcome(message=refused, ok=False), status=403)
            outcome = await self._runner.run(
                action_text, form.get("processname"), requester_of(request, "web")
            )
            if outcome is not None:
                raise web.HTTPSeeOther(message_location(outcome), headers=SECURITY_HEADERS)
        outcome = None
        if form.get("message"):
            message = form["message"]
            if len(message) > MAX_MESSAGE_CHARS:
                message = message[:MAX_MESSAGE_CHARS] + "…"
            outcome = Outcome(message=message, ok=form.get("level") != "error")
        return self._status_page(outcome)

    async def tail(self, request: web.Request) -> web.StreamResponse:
        """The last ``limit`` bytes of a process's stdout (or ``channel=stderr``) log."""
        form = await _form(request)
        page = await self._tail_page(form)
        return _html(page.body, page.status)

    async def ok(self, request: web.Request) -> web.StreamResponse:
        """supervisord's ``ok.html``: a plain "OK" for load balancers' health checks."""
        return web.Response(text="OK", headers={"Cache-Control": "no-store"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        """The page's stylesheet and script (package data; nothing else is served)."""
        found = self._static.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    # ----------------------------------------------------------------- helpers

    def _refusal(self, request: web.Request, action_text: str) -> str | None:
        try:
            action = Action(action_text)
        except ValueError:
            return None  # an unknown action changes nothing; the runner says so
        if not action.changes_state:
            return None
        return cross_site_refusal(request.headers, own_origin=f"{request.scheme}://{request.host}")

    def _status_page(self, outcome: Outcome | None, *, status: int = 200) -> web.Response:
        processes = render.sorted_processes(self._control.groups())
        view = render.StatusView(
            identification=self._control.identification(),
            daemon_state=self._control.supervisor_state(),
            daemon_pid=self._control.pid(),
            processes=processes,
            # The snapshots' own clock, so the script's uptimes continue the table's.
            now=processes[0].now if processes else self._clock(),
            outcome=outcome,
        )
        return _html(render.render_status(view), status)

    async def _tail_page(self, form: Mapping[str, str]) -> _Page:
        processname = form.get("processname") or None
        limit = tail_limit(form.get("limit"))
        channel = form.get("channel", "stdout")

        def page(text: str, status: int = 200, path: str = "") -> _Page:
            view = render.TailView(
                processname=processname,
                channel=channel if channel in ("stdout", "stderr") else "stdout",
                limit=limit,
                path=path,
                text=text,
            )
            return _Page(body=render.render_tail(view), status=status)

        if processname is None:
            return page("No process name found", 400)
        if channel not in ("stdout", "stderr"):
            return page(f"ERROR: channel must be stdout or stderr, not {echo(channel)!r}", 400)
        info = find_process(self._control.groups(), processname)
        if info is None:
            return page(f"No such process named {echo(processname)}", 404)
        path = info.stdout_logfile if channel == "stdout" else info.stderr_logfile
        try:
            data = await asyncio.to_thread(files.read_log, path or None, -limit, 0)
        except files.LogReadError as error:
            if error.fault == "NO_FILE":
                return page(f"No file for {info.namespec} ({channel})", 404, path)
            # A log we cannot read (permissions) is no client error: say so, plainly.
            return page(f"ERROR: could not read {path}", 200, path)
        return page(logfiles.xml_safe_text(data), 200, path)


async def _form(request: web.Request) -> dict[str, str]:
    """supervisord's form: query-string values, overridden by urlencoded/multipart POST ones."""
    form = _first_values(request.query)
    if request.method == "POST":
        try:
            posted = await request.post()
        except ValueError as error:
            raise web.HTTPBadRequest(text=f"unreadable form body: {error}\n") from error
        form.update(_first_values(posted))
    return form


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=body,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )
