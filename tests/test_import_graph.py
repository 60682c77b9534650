"""The package structure of `src/neuface`, read from the source with ast (nothing is imported).

Three rules keep the layout a newcomer can read:

1. No cycle between neuface's top-level units (`neuface.faceset`, `neuface.detect`, `neuface.runtime`, ...):
   the lower layers (`dfl/`, `faceset/`, `imaging/`, `runtime.py`, ...) never import the stages above them.
2. `neuface.commands` (the typer shells) is imported by `neuface.cli` only: the library never depends on the CLI.
3. A stage package uses another stage only through that stage's package root (`from neuface.detect import
   X`, its public API), never its internals (`neuface.detect.smoothing`, or a submodule named in a
   from-import).

Every failure names the offending import as `file:line: a -> b`. Imports under `if TYPE_CHECKING:` count
too: a type-only import of another stage's internals still couples the two.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "neuface"
STAGES = frozenset({"extract", "detect", "sort", "curate", "xseg", "pack", "train", "export", "merge"})


@dataclass(frozen=True)
class Edge:
    """One import statement from module `source` (in `file` at `line`) of module `target`."""

    source: str
    target: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.source} -> {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _edges() -> list[Edge]:
    """Every import of a neuface module in the package, with submodules named in from-imports resolved."""
    edges: list[Edge] = []
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        rel = str(path.relative_to(SRC.parents[1]))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [module]
                # `from neuface.detect import smoothing` imports the submodule neuface.detect.smoothing
                targets += [f"{module}.{a.name}" for a in node.names if _is_module(f"{module}.{a.name}")]
            else:
                continue
            edges += [Edge(name, t, rel, node.lineno) for t in targets if t == "neuface" or t.startswith("neuface.")]
    return edges


def _unit(module: str) -> str:
    """The top-level unit a module belongs to: neuface.detect.backends.registry -> detect."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in a directed graph as [a, b, ..., a], or None (iterative DFS, colour marking)."""
    colour: dict[str, int] = defaultdict(int)  # 0 new, 1 on the stack, 2 done
    for start in sorted(graph):
        if colour[start]:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        colour[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop(0)
            if colour[nxt] == 1:
                return path[path.index(nxt):] + [nxt]
            if colour[nxt] == 0:
                colour[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return _edges()


def test_the_graph_is_read(edges: list[Edge]) -> None:
    """The reader sees the imports it must see (a reader that found nothing would pass every rule)."""
    sources = {e.source for e in edges}
    assert "neuface.cli" in sources and len(edges) > 200
    assert any(e.source == "neuface.cli" and e.target.startswith("neuface.commands") for e in edges)


def test_no_cycle_between_packages(edges: list[Edge]) -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    witness: dict[tuple[str, str], Edge] = {}
    for e in edges:
        a, b = _unit(e.source), _unit(e.target)
        if a and b and a != b:
            graph[a].add(b)
            witness.setdefault((a, b), e)
    cycle = _find_cycle(graph)
    if cycle:
        steps = "\n  ".join(str(witness[(a, b)]) for a, b in zip(cycle, cycle[1:], strict=False))
        pytest.fail(f"package cycle {' -> '.join(cycle)}:\n  {steps}")


def test_commands_imported_by_cli_only(edges: list[Edge]) -> None:
    bad = [e for e in edges if _unit(e.target) == "commands" and _unit(e.source) not in ("commands", "cli")]
    assert not bad, "neuface.commands imported outside neuface.cli:\n  " + "\n  ".join(map(str, bad))


def test_stages_use_each_other_through_the_package_root(edges: list[Edge]) -> None:
    bad = [e for e in edges
           if _unit(e.source) in STAGES and _unit(e.target) in STAGES and _unit(e.source) != _unit(e.target)
           and e.target.count(".") >= 2]
    assert not bad, "a stage imports another stage's internals:\n  " + "\n  ".join(map(str, bad))


def test_the_cycle_finder_finds_cycles() -> None:
    """The checker itself: a known cycle is found, a DAG passes (so a green test means something)."""
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_public_api_names_resolve(stage: str) -> None:
    """Every name a stage's `__init__` exports lazily exists in the submodule it points to (a rename
    breaks here, not in another stage at run time), and importing the package alone stays light."""
    import importlib
    import subprocess
    import sys

    code = (f"import sys, neuface.{stage}; heavy = {{'torch', 'cv2', 'onnxruntime', 'dlib'}} & set(sys.modules); "
            "print(','.join(sorted(heavy)))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert res.stdout.strip() == "", f"import neuface.{stage} loads {res.stdout.strip()}"
    package = importlib.import_module(f"neuface.{stage}")
    for name in getattr(package, "_API", {}):
        assert getattr(package, name) is not None, f"neuface.{stage}.{name}"
