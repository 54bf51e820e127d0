"""No test skips on a missing peer behind ``tests/peers.py``'s back (issue 19).

A skip that CI does not turn into a failure hides a peer that was never installed
(a module, a command, root for a tmpfs). So the tests reach for peers through
``require_module``/``require_command``/``require_root``/``missing_peer``, which fail
under ``CI=true``; this test reads every test file and refuses the shortcuts.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# Optional parts of the interpreter itself, not peers the test command installs.
ALLOWED_IMPORTORSKIP = {"readline"}


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _mentions_root_check(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Attribute) and n.attr in {"geteuid", "getuid"} for n in ast.walk(node)
    )


def test_peers_are_required_through_tests_peers() -> None:
    """No ``pytest.importorskip`` of a peer, no ``CI`` check of its own, no skip on
    ``geteuid() != 0`` (use ``require_root``): each would skip under CI too."""
    problems: list[str] = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == "peers.py" or path == Path(__file__).resolve():
            continue
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(TESTS.parent)
        for call in _calls(tree):
            name = _dotted(call.func)
            if name == "pytest.importorskip":
                module = call.args[0].value if call.args else None  # type: ignore[attr-defined]
                if module not in ALLOWED_IMPORTORSKIP:
                    problems.append(f"{where}:{call.lineno}: importorskip({module!r})")
            if name.endswith("environ.get") and call.args:
                first = call.args[0]
                if isinstance(first, ast.Constant) and first.value == "CI":
                    problems.append(f"{where}:{call.lineno}: reads CI itself (use in_ci())")
        for node in ast.walk(tree):
            # `if os.geteuid() != 0: pytest.skip(...)` and `skipif(os.getuid() != 0, ...)`
            if isinstance(node, ast.If) and _mentions_root_check(node.test):
                skips = [c for c in _calls(node) if _dotted(c.func) == "pytest.skip"]
                if skips:
                    problems.append(f"{where}:{node.lineno}: skips without root (require_root)")
            if isinstance(node, ast.Call) and _dotted(node.func) == "pytest.mark.skipif":
                condition = node.args[0] if node.args else None
                if isinstance(condition, ast.Compare) and _mentions_root_check(condition):
                    ops = condition.ops
                    comparators = condition.comparators
                    not_root = (
                        isinstance(ops[0], ast.NotEq)
                        and isinstance(comparators[0], ast.Constant)
                        and comparators[0].value == 0
                    )
                    if not_root:
                        problems.append(f"{where}:{node.lineno}: skipif not root (require_root)")
    assert problems == []
