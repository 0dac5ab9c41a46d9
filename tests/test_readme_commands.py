"""Every `symroof ...` line of the README's code blocks is in scripts/readme-commands, which CI
runs after a plain `pip install .` (.ci/run), so a command the README shows cannot go untested."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> set[str]:
    text = (ROOT / "README.md").read_text()
    out = set()
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("symroof "):
                out.add(" ".join(line.split("#")[0].split()))
    return out


def _script_commands() -> set[str]:
    lines = (ROOT / "scripts" / "readme-commands").read_text().splitlines()
    return {" ".join(s.split()) for s in lines if s.strip() and not s.startswith("#")}


def test_every_readme_command_is_run_by_ci():
    shown = _readme_commands()
    assert len(shown) >= 9                        # the README's command list, at least
    missing = shown - _script_commands()
    assert not missing, f"README commands not in scripts/readme-commands: {sorted(missing)}"


def test_ci_runs_the_list_in_a_plain_install():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q .\n" in ci and "scripts/run-readme-commands /tmp/plainvenv/bin/symroof" in ci
