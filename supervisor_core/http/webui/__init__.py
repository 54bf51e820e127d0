"""The web UI's parts: actions over the control protocol, pure rendering, and the
package data it serves (``status.html``, ``tail.html`` templates, ``superd.css``,
``superd.js``). The aiohttp handlers live in :mod:`supervisor_core.http.web`."""
