"""The package reads top to bottom: no module imports a higher layer, and imports form no cycle.

The layer order is declared here (STYLE.md section 5); a module may import its own layer's
modules (without a cycle) and any lower layer, never a higher one. Imports inside functions are
allowed only for optional heavy dependencies outside the package, each with a comment.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import social_licence

PACKAGE = Path(social_licence.__file__).parent

# Lowest first. Each entry is a module or subpackage of social_licence.
LAYERS = [
    {"_version", "errors", "io", "html"},
    {"config"},
    {"survey"},
    {"ingest"},
    {"weighting"},
    {"design"},
    {"models"},
    {"report"},
    {"synthetic"},
    {"stages", "config_check"},
    {"cli", "verify", "__init__"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"module {module!r} is in no declared layer: add it to LAYERS")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Package-internal modules an ``ImportFrom`` names, as dotted names below the package."""
    if node.level == 0:
        if not (node.module or "").startswith("social_licence"):
            return []
        base = (node.module or "").split(".")[1:]
    else:
        parts = module.split(".") if module != "__init__" else []
        here = parts if is_package else parts[:-1]
        base = here[: len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    targets = []
    for alias in node.names:
        candidate = base + [alias.name]
        if _exists(candidate):
            targets.append(".".join(candidate))
        elif base:
            targets.append(".".join(base))
    return targets


def _exists(parts: list[str]) -> bool:
    path = PACKAGE.joinpath(*parts)
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    graph: dict[str, set[str]] = {}
    local_imports: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        text = path.read_text(encoding="utf-8")
        source = text.splitlines()
        tree = ast.parse(text)
        deps: set[str] = set()
        top_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            found: list[str] = []
            if isinstance(node, ast.ImportFrom):
                found = _resolve(module, path.name == "__init__.py", node)
                deps.update(found)
                if id(node) not in top_level and found:
                    local_imports.append(f"{module}:{node.lineno} imports {found} inside a function")
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level and not found:
                # an optional heavy dependency: allowed, with a comment saying why (on the line,
                # or just above the block of imports it belongs to)
                k = node.lineno - 1
                while k > 0 and source[k - 1].strip().startswith(("import ", "from ")):
                    k -= 1
                if "#" not in source[node.lineno - 1] and not source[k - 1].strip().startswith("#"):
                    local_imports.append(f"{module}:{node.lineno} imports inside a function, uncommented")
        graph[module] = {d for d in deps if d != module and d != "__init__"}
    return graph, local_imports


def test_no_module_imports_a_higher_layer():
    graph, _ = _graph()
    upward = [
        f"{module} (layer {_layer(module)}) imports {dep} (layer {_layer(dep)})"
        for module, deps in graph.items()
        if module != "__init__"
        for dep in sorted(deps)
        if _layer(dep) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_package_imports_form_no_cycle():
    graph, _ = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_package_import_inside_a_function_and_others_say_why():
    _, local_imports = _graph()
    assert not local_imports, "\n".join(local_imports)


def test_the_walk_sees_imports():
    """The graph is not empty by accident: the ingest stage reads the ingest layer, the report
    stages the report layer."""
    graph, _ = _graph()
    assert "ingest.formats" in graph["stages.ingest"]
    assert any(dep.startswith("report.") for dep in graph["stages.report"])


LONG_MODULE = 800  # lines; a longer module states at its top why it stays whole (STYLE.md)


def test_a_module_over_800_lines_says_why_at_its_top():
    """The reason is in the module docstring, naming its length ("Long (~1,100 lines) on
    purpose: ...", "Somewhat over 800 lines: ...") with what keeps it together."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= LONG_MODULE:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not re.search(r"(over 800|~\s?[\d,]+|about [\d,]+) lines[^.]*:", doc, re.IGNORECASE):
            unexplained.append(f"{_module_name(path)} ({text.count(chr(10))} lines)")
    assert not unexplained, "long modules without a stated reason: " + ", ".join(unexplained)


def test_a_job_starting_imports_no_heavy_library_it_may_not_use():
    # Every rule script imports one stage module of social_licence.stages; plotting, scipy.stats,
    # statsmodels and the HTML/Word writers cost seconds per job and are loaded where used (the
    # lazy imports above). A new module-level import of one of them makes every job pay for it.
    heavy = ["plotnine", "matplotlib", "scipy.stats", "statsmodels", "great_tables", "docx"]
    modules = sorted(f"social_licence.stages.{p.stem}" for p in (PACKAGE / "stages").glob("[!_]*.py"))
    assert "social_licence.stages.report" in modules
    code = (
        f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", f"imported at start-up: {proc.stdout.strip()}"


def test_a_stage_job_loads_only_its_own_stage():
    """``from social_licence.stages import run_x`` (every rule script) loads run_x's module and
    what it imports, not the other stages (README, "Speed"); every public name of a stage module
    is in the table that finds it, and found there."""
    import importlib

    from social_licence import stages

    public = {}
    for path in sorted((PACKAGE / "stages").glob("[!_]*.py")):
        module = importlib.import_module(f"social_licence.stages.{path.stem}")
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = [node.name] if isinstance(node, ast.FunctionDef) else [
                t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name) and t.id.isupper()
            ]
            for name in names:
                if not name.startswith("_"):
                    public[name] = path.stem
                    assert getattr(stages, name) is getattr(module, name)
    assert stages.STAGES == public
    code = (
        "import sys; from social_licence.stages import run_ingest; "
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('social_licence.stages.')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['common', 'ingest']"
