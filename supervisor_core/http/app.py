"""The aiohttp application of the control plane: ``/RPC2``, ``/logtail``, ``/mainlogtail``, web UI.

Rules of this file:
- Handlers translate HTTP to calls on :class:`~supervisor_core.http.rpc.RpcInterface`
  and back; no supervisor logic lives here.
- ``/RPC2`` refuses a browser's cross-site request (``Sec-Fetch-Site`` other than
  ``same-origin``/``none``, or an ``Origin`` that is not ours) with 403, as the web
  page refuses its cross-site actions: a browser sends basic-auth credentials on
  cross-site requests too, and a ``text/plain`` POST needs no CORS preflight, so
  any page could otherwise stop programs. XML-RPC clients (supervisorctl,
  superlance, xmlrpc.client) send neither header and are not affected.
- A malformed request is the client's problem (4xx), never the server's: a body over
  ``client_max_size`` gets 413, an undecodable or hostile XML body gets 400, and the
  server keeps serving. Only a bug of ours becomes 500, and it is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from supervisor_core import control
from supervisor_core.http import logtail
from supervisor_core.http.auth import REALM, AuthPolicy
from supervisor_core.http.faults import RpcFault
from supervisor_core.http.limits import read_body
from supervisor_core.http.requesters import requester_of
from supervisor_core.http.rpc import RpcInterface
from supervisor_core.http.web import WebUI, cross_site_refusal
from supervisor_core.http.xmlrpc import (
    RequestError,
    ResultEncodingError,
    decode_request,
    encode_fault,
)
from supervisor_core.rpc_timings import RpcOutcome, RpcTimings

logger = logging.getLogger(__name__)

CONTROL_KEY = web.AppKey("control", control.SupervisorControl)
RPC_KEY = web.AppKey("rpc", RpcInterface)
AUTH_KEY = web.AppKey("auth", AuthPolicy)
TAIL_KEY = web.AppKey("tail", logtail.TailSettings)
TIMINGS_KEY = web.AppKey("rpc_timings", RpcTimings)

# Large enough for any real XML-RPC call (sendProcessStdin payloads included), small
# enough that a hostile body cannot make the daemon allocate much.
DEFAULT_CLIENT_MAX_SIZE = 2 * 1024 * 1024

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    control_: control.SupervisorControl,
    *,
    auth: AuthPolicy | None = None,
    client_max_size: int = DEFAULT_CLIENT_MAX_SIZE,
    logtail_head: int = 1024,
    logtail_poll_interval: float = 0.1,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    rpc_timings: RpcTimings | None = None,
) -> web.Application:
    """Build the control-plane web application over ``control_``.

    Args:
        control_: the daemon (or a fake) that answers the RPCs.
        auth: per-listener basic-auth requirements; None serves everyone, as a
            supervisord without ``username`` does.
        client_max_size: largest accepted request body in bytes (413 beyond).
        logtail_head: bytes of history a new ``/logtail`` client gets first.
        logtail_poll_interval: seconds between size checks of a followed log.
        extra_routes: more routes served by the same app and behind the same auth
            (e.g. ``/metrics`` from ``exporters.prometheus.metrics_routes``); the
            core stays unaware of what they serve.
        rpc_timings: where the duration of every ``/RPC2`` call is counted (one per
            daemon run, read by the metrics exporter); None: a private one.

    Example:
        app = make_app(control, auth=AuthPolicy.from_configs(unix=u, inet=i))
        await serve(app, unix=u, inet=i)  # inside the daemon's TaskGroup
    """
    app = web.Application(client_max_size=client_max_size, middlewares=[_auth_middleware])
    app[CONTROL_KEY] = control_
    app[RPC_KEY] = rpc = RpcInterface(control_)
    app[TIMINGS_KEY] = timings = rpc_timings if rpc_timings is not None else RpcTimings()
    timings.declare_methods(rpc.methods)
    app[AUTH_KEY] = auth if auth is not None else AuthPolicy()
    app[TAIL_KEY] = logtail.TailSettings(
        head=logtail_head, poll_interval=logtail_poll_interval, stopping=asyncio.Event()
    )
    app.router.add_post("/RPC2", _rpc2)
    app.router.add_get("/logtail/{namespec}", _logtail)
    app.router.add_get("/logtail/{namespec}/{channel}", _logtail)
    app.router.add_get("/mainlogtail", _mainlogtail)
    # The web UI (status and tail pages) behind the same auth as /RPC2.
    app.router.add_routes(WebUI(control_).routes())
    app.router.add_routes(extra_routes)
    app.on_shutdown.append(_stop_tails)
    return app


async def _stop_tails(app: web.Application) -> None:
    # Followed logs never end by themselves; end them so shutdown does not wait.
    app[TAIL_KEY].stopping.set()


def _over_unix_socket(request: web.Request) -> bool:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    # AF_UNIX sockets report a path (str, or bytes for abstract names); TCP a tuple.
    return isinstance(sockname, str | bytes)


@web.middleware
async def _auth_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    policy = request.app[AUTH_KEY]
    authorization = request.headers.get("Authorization")
    if not policy.allows(authorization, over_unix_socket=_over_unix_socket(request)):
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
    return await handler(request)


def _xml(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/xml")


async def _rpc2(request: web.Request) -> web.Response:
    refused = cross_site_refusal(request.headers, own_origin=f"{request.scheme}://{request.host}")
    if refused is not None:
        logger.warning("refused a cross-site /RPC2 request from %s", request.remote)
        raise web.HTTPForbidden(
            text="/RPC2 refuses cross-site browser requests (Sec-Fetch-Site, Origin); "
            "nothing was done\n"
        )
    body = await read_body(request)  # 413 beyond client_max_size, 408 when too slow
    try:
        method, params = decode_request(body)
    except RequestError as e:
        logger.warning("rejected XML-RPC request from %s: %s", request.remote, e)
        raise web.HTTPBadRequest(text=f"{e}\n") from e
    rpc = request.app[RPC_KEY]
    # The call itself and the encoding of its answer (supervisor_rpc_request_duration_seconds);
    # reading and decoding the body is the client's pace, not ours. (aiohttp lets a
    # handler finish when its client goes away, so every call started is counted.)
    timings = request.app[TIMINGS_KEY]
    started = time.perf_counter()
    try:
        body = await rpc.call_encoded(method, params, requester_of(request, "xmlrpc"))
    except RpcFault as fault:
        timings.observe(method, RpcOutcome.FAULT, time.perf_counter() - started)
        body = encode_fault(fault)
    except ResultEncodingError as e:
        timings.observe(method, RpcOutcome.FAULT, time.perf_counter() - started)
        # A result XML-RPC cannot carry (None, an int over 32 bits) is our bug.
        logger.exception("%s", e)
        raise web.HTTPInternalServerError() from e
    else:
        timings.observe(method, RpcOutcome.OK, time.perf_counter() - started)
    return _xml(body)


async def _logtail(request: web.Request) -> web.StreamResponse:
    namespec = request.match_info["namespec"]
    channel = request.match_info.get("channel", "stdout")
    groups = request.app[CONTROL_KEY].groups()
    path = logtail.process_log_path(groups, namespec, channel)
    if path is None:
        # No such process or channel, or no log configured (a temporary
        # condition: a reload may add one), all 404 as in supervisord.
        raise web.HTTPNotFound()
    return await logtail.stream_file(request, path, request.app[TAIL_KEY], unbuffered=True)


async def _mainlogtail(request: web.Request) -> web.StreamResponse:
    path = request.app[CONTROL_KEY].main_logfile()
    if path is None:
        raise web.HTTPNotFound()
    return await logtail.stream_file(request, path, request.app[TAIL_KEY], unbuffered=False)
