"""The README's map of the package is true: every module is in it, and data flows one way (a module
imports only modules of its own row or of rows above it, also inside functions)."""

from __future__ import annotations

import ast
import pkgutil
import re
from pathlib import Path

import sketch_rnn

PACKAGE = Path(sketch_rnn.__file__).parent


def readme_rows(repo_dir: Path) -> list[list[str]]:
    text = (repo_dir / "README.md").read_text(encoding="utf-8")
    section = text.split("### The package, lowest layer first", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            rows.append(re.findall(r"`(\w+)`", line.split("|")[1]))
    return rows


def top_name(module: str) -> str:
    """``sketch_rnn.fast.fused`` -> ``fast``; private helpers belong to their package."""
    return module.split(".")[1]


def imports(path: Path, package: str) -> set[str]:
    """The ``sketch_rnn`` modules a source file imports, anywhere in it (relative imports resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sketch_rnn."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name == "sketch_rnn":  # from sketch_rnn import losses, schedules
                found.update(f"sketch_rnn.{a.name}" for a in node.names)
            elif name.startswith("sketch_rnn."):
                found.add(name)
    return found


def modules() -> dict[str, Path]:
    out = {}
    for info in pkgutil.walk_packages(sketch_rnn.__path__, "sketch_rnn."):
        name = info.name
        path = PACKAGE.joinpath(*name.split(".")[1:])
        out[name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return out


def test_every_module_is_on_the_map(repo_dir):
    rows = readme_rows(repo_dir)
    listed = [m for row in rows for m in row]
    assert len(listed) == len(set(listed)), "a module is listed twice"
    tops = {top_name(m) for m in modules()}
    assert set(listed) == tops


def test_data_flows_one_way(repo_dir):
    layer = {m: i for i, row in enumerate(readme_rows(repo_dir)) for m in row}
    upward = []
    for name, path in modules().items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        here = layer[top_name(name)]
        for target in imports(path, package):
            there = layer.get(top_name(target))
            if there is not None and there > here:
                upward.append(f"{name} imports {target}")
    assert not upward, upward


def test_the_checker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from sketch_rnn.fast import fused\n    from . import losses\n")
    assert imports(source, "sketch_rnn") == {"sketch_rnn.fast", "sketch_rnn.losses"}
