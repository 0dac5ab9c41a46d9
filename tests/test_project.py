"""Project rules that can be checked mechanically: sizes, imports, no text evaluated as code."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "symroof"


def test_modules_stay_small():
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 400, f"{path.name} has {lines} lines; split it"


def test_core_imports_nothing_heavy():
    code = ("import sys, symroof, symroof.cli, symroof.solve.training, symroof.parallel.roofline; "
            "heavy = {'torch', 'transformers', 'jax', 'matplotlib', 'numpy'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_no_text_is_evaluated_as_code():
    risky = re.compile(r"\b(eval|exec|parse_expr|sympify)\(|yaml\.load\(|yaml\.unsafe_load|FullLoader")
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not risky.search(line), f"{path.name}:{number}: {line.strip()}"


def test_readme_opens_with_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```\n(.*?)\n```", readme, flags=re.S)
    test_command = (ROOT / "scripts" / "test-command").read_text().strip()
    assert blocks[0].endswith("symroof reproduce")
    assert blocks[1] == test_command
    assert "scripts/test-command" in (ROOT / ".ci" / "run").read_text()
