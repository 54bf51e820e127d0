"""``%(name)s`` expansion of option values, with supervisord's names and scopes.

Rules of this file:
- Expansion is Python's ``%`` formatting with a mapping, exactly what supervisord
  does, so ``%(process_num)02d`` and ``%%`` behave the same.
- Which names exist depends on where a value is read (see the ``*_expansions``
  builders): ``here`` everywhere; ``ENV_X`` from the daemon's environment plus
  ``[supervisord] environment``; ``program_name``, ``group_name`` and
  ``host_node_name`` in process sections; ``process_num``, ``numprocs`` and the
  program's own ``environment`` as ``ENV_X`` only in the per-process options
  (``command``, ``directory``, log files, ``environment`` and ``process_name``).
"""

from __future__ import annotations

from collections.abc import Mapping


def expand(template: str, expansions: Mapping[str, object]) -> str:
    """Expand ``%(name)s`` references in ``template``.

    Raises:
        ValueError: with a short reason naming the unknown name or the format error.
    """
    try:
        return template % expansions
    except KeyError as error:
        available = ", ".join(sorted(expansions))
        raise ValueError(
            f"unknown expansion %({error.args[0]})s (available: {available})"
        ) from None
    except (ValueError, TypeError) as error:
        raise ValueError(f"badly formatted expansion ({error})") from None


def environ_expansions(environ: Mapping[str, str]) -> dict[str, str]:
    """``ENV_X`` names for every variable of ``environ``."""
    return {f"ENV_{key}": value for key, value in environ.items()}


def supervisord_expansions(here: str, environ: Mapping[str, str]) -> dict[str, object]:
    """Names available in ``[supervisord]``, the servers and ``[include]``."""
    names: dict[str, object] = dict(environ_expansions(environ))
    names["here"] = here
    return names


def process_section_expansions(
    *,
    here: str,
    environ_names: Mapping[str, str],
    program_name: str,
    group_name: str,
    host_node_name: str,
) -> dict[str, object]:
    """Names available in options of a ``[program:x]``-like section read once per section."""
    names: dict[str, object] = dict(environ_names)
    names.update(
        here=here,
        program_name=program_name,
        group_name=group_name,
        host_node_name=host_node_name,
    )
    return names
