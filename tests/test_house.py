"""The house rule, checked on the source: imports only go downhill (qat -> hw -> sim -> studies),
nobody imports a `__main__` or the tests, and no two modules import each other in a circle.

Every import statement counts, also the ones inside functions: a lazy import hides a circle, it
does not remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# floor of each package prefix, bottom to top; a module may import its own floor and the ones below
# (sim.cli, the `kwsflow` command, is the roof: it dispatches to every entry point, nothing imports it)
FLOORS = [("qat", 0), ("hw", 1), ("sim.cli", 4), ("sim.studies", 3), ("sim", 2)]


def floor(module: str) -> int | None:
    for prefix, level in FLOORS:
        if module == prefix or module.startswith(prefix + "."):
            return level
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, text: str | None = None) -> set[str]:
    """Project modules `path` (or `text` as if it were that file) imports, as absolute names."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return {m for m in found if floor(m) is not None or m.split(".")[0] == "tests"}


def sources() -> list[Path]:
    return sorted(p for pkg in ("qat", "hw", "sim") for p in (ROOT / pkg).rglob("*.py"))


def existing(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def violations(paths: list[Path], text: str | None = None) -> list[str]:
    bad = []
    for path in paths:
        me = module_name(path)
        for dep in sorted(imports_of(path, text)):
            if dep.split(".")[0] == "tests":
                bad.append(f"{me} imports the tests ({dep})")
            elif dep.endswith(".__main__") or dep == "__main__":
                bad.append(f"{me} imports a command-line entry point ({dep})")
            elif existing(dep) and floor(dep) > floor(me):
                bad.append(f"{me} (floor {floor(me)}) imports {dep} (floor {floor(dep)}): uphill")
    return bad


def test_imports_only_go_downhill():
    assert violations(sources()) == []


def test_no_import_circles():
    graph = {module_name(p): {d for d in imports_of(p) if existing(d)} for p in sources()}
    graph = {m: {d for d in deps if d in graph and d != m and not m.startswith(d + ".")} for m, deps in graph.items()}
    circles, state = [], {}

    def visit(m, stack):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                circles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert circles == []


@pytest.mark.parametrize("text,expect", [
    ("from sim.check import compare\n", "uphill"),
    ("def f():\n    from sim.runner import run_cocotb\n", "uphill"),  # lazy imports count too
    ("from hw.rtl.__main__ import main\n", "entry point"),
    ("from tests.real_clips import REAL_RUNS\n", "the tests"),
])
def test_the_rule_catches_an_uphill_import(text, expect):
    """A module of hw/ importing sim/ (or an entry point, or the tests) is reported."""
    bad = violations([ROOT / "hw" / "_house_probe.py"], text)
    assert bad and all(expect in b for b in bad)
