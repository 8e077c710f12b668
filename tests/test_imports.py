"""No import cycles inside src/difftone: the import graph, read from the sources (imports
inside functions included), has no strongly connected component of more than one module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: modules of ``package`` it imports}``, anywhere in its file."""
    files = {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join(here + ([base] if base else []))
                # `from a import b` imports the module a.b when there is one, else a name of a
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            for target in targets:
                while target and target not in files:  # `import a.b.c` of a name: the nearest module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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


def test_difftone_has_no_import_cycle():
    graph = import_graph(SRC, "difftone")
    assert len(graph) > 30 and "difftone.engine.loop" in graph
    assert "difftone.files" in graph["difftone.classifiers.checkpoint"]
    assert cycles(graph) == [], "import cycle(s) inside src/difftone; move the shared piece into a module both use"


@pytest.mark.parametrize("lazy", [False, True])
def test_the_cycle_check_finds_a_cycle(tmp_path, lazy):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import B\n")
    (pkg / "a.py").write_text("from pkg.sub.b import B\nA = 1\n")
    body = "def f():\n    from pkg.a import A\n" if lazy else "from ..a import A\n"
    (pkg / "sub" / "b.py").write_text(body + "B = 2\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.c"] == {"pkg.a"} and graph["pkg.sub"] == {"pkg.sub.b"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]


@pytest.mark.parametrize(
    "module, absent",
    [
        ("difftone.metrics", "transformers"),  # transformers' CLAP (4 s) loads where a CLAP model is built
        ("difftone.experiment.scoring", "transformers"),
        ("difftone.experiment.gather", "torch"),  # gather_edits only links files (2 s of torch saved per job)
    ],
)
def test_a_stage_module_does_not_load_what_its_jobs_do_not_use(module, absent):
    """Every Snakemake job pays its imports; these stay out of the modules that do not need them."""
    import subprocess
    import sys

    code = f"import sys, {module}; print({absent!r} in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
