"""Process names as supervisord spells them: ``name``, ``group:name``, ``group:*``.

The one home of the namespec rule; the daemon, the RPC interface, the web page,
superctl and the exporters all import it from here (supervisord keeps the same two
helpers in ``supervisor/options.py``).
"""

from __future__ import annotations

__all__ = ["make_namespec", "split_namespec"]


def split_namespec(namespec: str) -> tuple[str, str | None]:
    """``(group, process)`` of a namespec; ``process`` is None for a whole group.

    ``web`` means process ``web`` of group ``web``; ``g:web`` process ``web`` of ``g``;
    ``g:*`` and ``g:`` mean every process of ``g``.

    Example::

        >>> split_namespec("web"), split_namespec("g:web"), split_namespec("g:*")
        (('web', 'web'), ('g', 'web'), ('g', None))
    """
    group, sep, process = namespec.partition(":")
    if not sep:
        return namespec, namespec
    if process in ("", "*"):
        return group, None
    return group, process


def make_namespec(group: str, process: str) -> str:
    """The short name supervisorctl prints: ``name`` when group and process agree.

    Example::

        >>> make_namespec("web", "web"), make_namespec("g", "web")
        ('web', 'g:web')
    """
    if group == process:
        return process
    return f"{group}:{process}"
