"""Reading the ``[supervisorctl]`` section of a supervisord.conf, and finding the file.

A deliberately small reader with supervisord's INI dialect (``;``/``#`` inline
comments, duplicate keys allowed, ``%(ENV_X)s`` everywhere, ``%(here)s`` in
``serverurl`` and ``history_file``). It is the one seam to swap for
``supervisor_core.config`` once that loader exposes the section: callers only see
:func:`read_supervisorctl_section` and :class:`SupervisorctlConfig`.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping

from supervisor_core.config import search
from supervisor_core.config.model import SupervisorctlConfig

SECTION = "supervisorctl"
DEFAULT_SERVERURL = "http://localhost:9001"


class CtlConfigError(ValueError):
    """The config file cannot give a ``[supervisorctl]`` section; the text says why."""


def default_search_paths(argv0: str) -> tuple[str, ...]:
    """supervisord's config search path, relative to the running script's prefix.

    ``argv0`` is the script path (``.venv/bin/superctl`` searches ``.venv/etc/...``
    and ``.venv/...`` first), then the current directory, then ``/etc``.
    """
    return search.default_search_path(argv0)


def find_config(paths: tuple[str, ...]) -> str | None:
    """The first of ``paths`` that exists, or None."""
    return search.find_config(paths)


def normalize_path(path: str) -> str:
    """``~`` expanded, absolute (against the current directory) and normalised."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))


def _expand(value: str, expansions: Mapping[str, str], where: str) -> str:
    """``value % expansions`` with supervisord's error wording."""
    try:
        return value % expansions
    except KeyError as error:
        available = ", ".join(sorted(expansions))
        raise CtlConfigError(
            f"Format string {value!r} for {where!r} contains names ({error}) which "
            f"cannot be expanded. Available names: {available}"
        ) from None
    except (ValueError, TypeError) as error:
        raise CtlConfigError(
            f"Format string {value!r} for {where!r} is badly formatted: {error}"
        ) from None


def read_supervisorctl_section(
    path: str, environ: Mapping[str, str] | None = None
) -> SupervisorctlConfig:
    """Read ``[supervisorctl]`` from the config file at ``path``.

    Args:
        path: the config file (``-c FILE`` or the first file found on the search path).
        environ: the environment for ``%(ENV_X)s`` (``os.environ`` when None).

    Raises:
        CtlConfigError: the file is missing or unreadable, is not valid INI, has no
            ``[supervisorctl]`` section, or a value cannot be expanded.
    """
    here = os.path.dirname(normalize_path(path))
    if not os.path.exists(path):
        raise CtlConfigError(f"could not find config file {path}")
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
    except OSError:
        raise CtlConfigError(f"could not read config file {path}") from None
    except configparser.Error as error:
        raise CtlConfigError(f"{path}: {error}") from None
    if not parser.has_section(SECTION):
        raise CtlConfigError(".ini file does not include supervisorctl section")

    env = os.environ if environ is None else environ
    expansions = {f"ENV_{key}": value for key, value in env.items()}
    with_here = {**expansions, "here": here}

    def get(key: str, *, here_too: bool = False) -> str | None:
        if not parser.has_option(SECTION, key):
            return None
        raw = parser.get(SECTION, key)
        return _expand(raw, with_here if here_too else expansions, f"{SECTION}.{key}")

    serverurl = get("serverurl", here_too=True)
    if serverurl is None:
        serverurl = DEFAULT_SERVERURL
    if serverurl.startswith("unix://"):
        serverurl = "unix://" + normalize_path(serverurl[len("unix://") :])
    history_file = get("history_file", here_too=True)
    prompt = get("prompt")
    return SupervisorctlConfig(
        serverurl=serverurl,
        username=get("username"),
        password=get("password"),
        prompt="supervisor" if prompt is None else prompt,
        history_file=normalize_path(history_file) if history_file else None,
    )
