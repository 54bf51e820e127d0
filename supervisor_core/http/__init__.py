"""The control plane over HTTP: supervisord's XML-RPC API and log tails (aiohttp).

Public surface: :func:`make_app`, :func:`serve`/:func:`serving`, :class:`AuthPolicy`.
The daemon passes its :class:`~supervisor_core.control.SupervisorControl`.
"""

from supervisor_core.http.app import make_app
from supervisor_core.http.auth import AuthPolicy, Credentials
from supervisor_core.http.server import BoundAddresses, ServerStartError, serve, serving

__all__ = [
    "AuthPolicy",
    "BoundAddresses",
    "Credentials",
    "ServerStartError",
    "make_app",
    "serve",
    "serving",
]
