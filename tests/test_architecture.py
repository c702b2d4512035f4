"""The package's structure: imports run one way, and no circle, even through imports inside functions.

Layers, bottom first (README: Architecture). A module may import from its own layer
and the layers below it, never from a layer above:

0. the vision core, training and evaluation (plain Python), and ``conf`` (settings)
1. ``registry``: the shop's models, their content types, the configured pipeline
2. ``models``: the tables
3. ``services`` and ``index``: tags, search, similarity, the vector index
4. ``analysis``: start, run and store an analysis
5. ``tasks``: the Celery tasks
6. the ways in: ``api``, admin, template tags, signals, shortcuts, checks, commands
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("jewel_vision", "shop", "worker")

LAYERS = [
    ("jewel_vision.vision", "jewel_vision.training", "jewel_vision.evaluation", "jewel_vision.conf",
     "jewel_vision.embedded_postgres"),
    ("jewel_vision.registry",),
    ("jewel_vision.models",),
    ("jewel_vision.services", "jewel_vision.index"),
    ("jewel_vision.analysis",),
    ("jewel_vision.tasks",),
]
TOP = len(LAYERS)


def project_modules() -> dict[str, Path]:
    mods = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            if "migrations" in rel.parts:
                continue
            name = ".".join(rel.parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports anywhere in its body (functions included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            subs = [f"{base}.{alias.name}" for alias in node.names]
            # "from package import submodule" needs the submodule; the package only if the
            # importer is outside it (a module inside it runs after the package's __init__ anyway).
            targets = subs + ([] if name.startswith(base + ".") and all(s in mods for s in subs) else [base])
        else:
            continue
        for target in targets:
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = project_modules()
    return {name: imports_of(name, path, mods) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> int:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return TOP


def test_no_import_cycle_counting_imports_inside_functions():
    """Over every module of jewel_vision (the vision core and training included), shop and worker."""
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_imports_inside_functions_count(tmp_path):
    """A circle closed by an import inside a function is read as one (``imports_of`` on real files)."""
    (tmp_path / "a.py").write_text("from pkg import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from .c import g\n    return g\n")
    (tmp_path / "c.py").write_text("def g():\n    from . import a\n    return a\n")
    mods = {f"pkg.{n}": tmp_path / f"{n}.py" for n in "abc"}
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_the_vision_core_and_training_are_in_the_checked_graph():
    graph = import_graph()
    assert "jewel_vision.vision.colour" in graph["jewel_vision.vision.pipeline"]
    assert "jewel_vision.training.common" in graph["jewel_vision.training.train_stones"]


def test_the_vision_core_and_training_import_their_own_modules_at_the_top():
    """Inside a function only what is costly to import (torch, cv2, scipy...) may be imported,
    never a module of the project: a late import would only hide which way the imports run."""
    late = []
    for name, path in project_modules().items():
        if not name.startswith(("jewel_vision.vision", "jewel_vision.training")):
            continue
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("jewel_vision")):
                    late.append(f"{name}:{node.lineno}")
                elif isinstance(node, ast.Import) and any(a.name.startswith("jewel_vision") for a in node.names):
                    late.append(f"{name}:{node.lineno}")
    assert late == []


def app_imports() -> list[tuple[str, str]]:
    """(importer, imported) for every import made by a module of the app itself."""
    return sorted((m, t) for m, targets in import_graph().items() if m.startswith("jewel_vision") for t in targets)


def test_imports_run_one_way_through_the_layers():
    upward = [f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})" for m, t in app_imports() if layer_of(t) > layer_of(m)]
    assert upward == []


def test_the_app_never_imports_the_demo_shop():
    assert [f"{m} imports {t}" for m, t in app_imports() if t.split(".")[0] in ("shop", "worker")] == []
