"""Every test can fail: each test function asserts, expects an exception or warning, or calls a
comparison helper (its own module's checking helpers included).

A small AST scan of tests/: a function named ``test_*`` passes when its body holds an ``assert``,
a ``pytest.raises``/``pytest.warns``/``pytest.fail`` call, a call of a name starting ``assert``
(``assert_frame_equal``, ``np.testing.assert_allclose``, ...), or a call of a helper defined in
tests/ that itself does one of these.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CHECKING_CALLS = {"raises", "warns", "fail", "deprecated_call"}


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _checks_directly(func: ast.AST) -> bool:
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name and (name in CHECKING_CALLS or name.startswith("assert")):
                return True
    return False


def _calls(func: ast.AST) -> set[str]:
    return {name for node in ast.walk(func) if isinstance(node, ast.Call) and (name := _called_name(node))}


def _functions() -> dict[tuple[str, str], ast.FunctionDef]:
    found = {}
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found[(path.name, node.name)] = node
    return found


def weak_tests() -> list[str]:
    functions = _functions()
    checking = {name for (_, name), f in functions.items() if not name.startswith("test_") and _checks_directly(f)}
    changed = True
    while changed:  # helpers that call checking helpers check too
        changed = False
        for (_, name), f in functions.items():
            if not name.startswith("test_") and name not in checking and _calls(f) & checking:
                checking.add(name)
                changed = True
    return [
        f"{module}::{name}"
        for (module, name), f in functions.items()
        if name.startswith("test_") and not (_checks_directly(f) or _calls(f) & checking)
    ]


def test_every_test_function_can_fail():
    weak = weak_tests()
    assert not weak, f"test functions without an assert, pytest.raises/warns or comparison helper: {weak}"


def test_the_scan_finds_a_test_without_a_check(tmp_path):
    tree = ast.parse("def test_nothing():\n    x = 1\n\ndef test_raises():\n    with pytest.raises(E):\n        f()\n")
    verdicts = {f.name: _checks_directly(f) for f in tree.body}
    assert verdicts == {"test_nothing": False, "test_raises": True}
