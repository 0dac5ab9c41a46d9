"""The package shows the pipeline, and imports run one way along it.

cards and configs -> graph -> sharding -> roofline -> solve -> instantiate -> report. Each
subpackage is a stage; a module may import its own stage and earlier ones, never a later
one (lazy imports inside functions included). The symbolic stages never touch YAML,
files, plotting or the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "symroof"

#   stage        rank   what it holds
STAGES = {
    "errors":     0,    # the one error family
    "units":      0,    # unit definitions (a day in seconds)
    "core":       1,    # symbols, op cost rules, blocks, the graph, totals
    "parallel":   2,    # mesh axes, collectives, sharding, pipelines, roofline, topology
    "solve":      3,    # closed forms solved by SymPy
    "io":         4,    # cards, config.json import, run settings, binding numbers to symbols
    "search":     5,    # the planner
    "claims":     6,    # named results, reproductions, published runs
    "report":     7,    # text, LaTeX, Markdown, HTML, plots
    "cli":        8,    # the command line and the public door
    "__init__":   8,
    "__main__":   8,
}
SYMBOLIC = ("core", "parallel", "solve")
FORBIDDEN_IN_SYMBOLIC = ("yaml", "json", "matplotlib", "numpy", "argparse", "pathlib")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts


def _imports(path: Path, parts: tuple[str, ...]):
    """Every (module, line) imported anywhere in the file, relative imports made absolute."""
    tree = ast.parse(path.read_text())
    package = ["symroof", *parts[:-1]] if parts[-1] != "__init__" else ["symroof", *parts[:-1]]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or target in ("symroof", *(f"symroof.{s}" for s in STAGES)):
                for alias in node.names:     # from . import graph -> symroof.core.graph
                    yield f"{target}.{alias.name}", node.lineno
            else:
                yield target, node.lineno


def _stage(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "symroof" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in STAGES else None


def test_every_module_belongs_to_a_stage():
    for path, parts in _modules():
        assert parts[0] in STAGES, f"{path}: not in a stage; add it to one of {', '.join(STAGES)}"


def test_imports_run_along_the_pipeline():
    wrong = []
    for path, parts in _modules():
        here = STAGES[parts[0]]
        for target, line in _imports(path, parts):
            stage = _stage(target)
            if stage is not None and STAGES[stage] > here:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {target} (stage {stage} comes later)")
    assert not wrong, "\n".join(wrong)


def test_the_symbolic_core_reads_no_files_and_draws_nothing():
    wrong = []
    for path, parts in _modules():
        if parts[0] not in SYMBOLIC:
            continue
        for target, line in _imports(path, parts):
            if target.split(".")[0] in FORBIDDEN_IN_SYMBOLIC:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_backward_import(tmp_path):
    """The rule is not vacuous: a lazy import of the report stage from core is found."""
    bad = tmp_path / "graph.py"
    bad.write_text("def f():\n    from ..report.render import si\n")
    found = [t for t, _ in _imports(bad, ("core", "graph"))]
    assert "symroof.report.render" in found
    assert STAGES[_stage("symroof.report.render")] > STAGES["core"]
