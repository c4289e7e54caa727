"""The layers only import downwards, and no two modules import each other (even indirectly).

Layers, lowest first: `mastermind.errors`; `language` and `reasoning`; `store`; `engine`; the
built-in `agents`; `embed` (the public Python API) and `service`; `cli`. A module may import its
own layer and the ones below it. Imports under `if TYPE_CHECKING:` count for direction (a type is
a dependency too) but not for cycles (they never run).

The package root is both ends: it defines `__version__` (any module may import it) and re-exports
the public API lazily, through module `__getattr__`. So it must import nothing at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RANKS = {
    "mastermind": 0,  # the package root: __version__, and the public API resolved lazily
    "mastermind.errors": 0,
    "mastermind.language": 1,
    "mastermind.reasoning": 1,
    "mastermind.store": 2,
    "mastermind.engine": 3,
    "agents": 4,
    "mastermind.embed": 5,
    "mastermind.service": 5,
    "mastermind.cli": 6,
    "mastermind.__main__": 7,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _rank(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, rank): the longest prefix wins
    for prefix, rank in RANKS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > best[0]
        ):
            best = (len(prefix), rank)
    return None if best is None else best[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, modules: set[str]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, runs at run time) for every import in the tree."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, runtime: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for inner in child.body:
                    visit_node(inner, False)
                for inner in child.orelse:
                    visit_node(inner, runtime)
                continue
            visit_node(child, runtime)

    def visit_node(node: ast.AST, runtime: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node.lineno, runtime))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.append((full if full in modules else node.module, node.lineno, runtime))
        else:
            visit(node, runtime)

    visit(tree, True)
    return [(name, line, runtime) for name, line, runtime in found if _rank(name) is not None]


def _project() -> dict[str, Path]:
    files = [*ROOT.joinpath("mastermind").rglob("*.py"), *ROOT.joinpath("agents").rglob("*.py")]
    return {_module_name(path): path for path in files}


def test_every_module_has_a_layer() -> None:
    unranked = [name for name in _project() if _rank(name) is None]
    assert not unranked


def test_imports_point_down_only() -> None:
    modules = _project()
    upward: list[str] = []
    for name, path in sorted(modules.items()):
        rank = _rank(name)
        assert rank is not None
        if name == "mastermind":
            continue  # the root's type-only re-exports; test_package_root_is_lazy holds it
        for target, line, _ in _imports(ast.parse(path.read_text()), set(modules)):
            target_rank = _rank(target)
            if target_rank is not None and target_rank > rank:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {target}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_package_root_is_lazy() -> None:
    """`import mastermind` imports no project module: the public API loads on first use."""
    modules = _project()
    root = ast.parse(modules["mastermind"].read_text())
    eager = [target for target, _, runtime in _imports(root, set(modules)) if runtime]
    assert not eager
    import mastermind

    for name in mastermind.__all__:
        assert getattr(mastermind, name) is not None, name


def test_no_import_cycles_between_modules() -> None:
    modules = _project()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {
            t for t, _, runtime in _imports(ast.parse(path.read_text()), set(modules)) if runtime
        }
        # importing a package runs its __init__: an edge to the package, not to its parents
        graph[name] = {t for t in targets if t in modules and t != name}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_agents_see_only_the_agent_seam() -> None:
    """Built-in agents use the engine only through `engine.agent` (StepContext, StepServices)."""
    modules = _project()
    reaching: list[str] = []
    for name, path in sorted(modules.items()):
        if not name.startswith("agents"):
            continue
        for target, line, _ in _imports(ast.parse(path.read_text()), set(modules)):
            engine = target.startswith("mastermind.engine")
            if (engine and target != "mastermind.engine.agent") or target.startswith(
                "mastermind.store"
            ):
                reaching.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    assert not reaching, "agents reaching past the seam:\n" + "\n".join(reaching)
