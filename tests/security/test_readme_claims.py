"""Every claim of the README's "Security" section names the tests that check it, and they exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).parent
README = HERE.parents[1] / "README.md"
REFERENCE = re.compile(r"`(test_\w+\.py)::(test_\w+)`")


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Security\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _claims() -> list[str]:
    """The section's bullets (`- **...**` up to the next bullet or blank line)."""
    return [match.group(0) for match in
            re.finditer(r"^- \*\*.*?(?=^- |^\s*$)", _section(), re.MULTILINE | re.DOTALL)]


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("test_")}


def test_every_claim_names_a_test() -> None:
    claims = _claims()
    assert len(claims) >= 8
    unchecked = [claim.splitlines()[0] for claim in claims if not REFERENCE.search(claim)]
    assert unchecked == []


def test_every_named_test_exists() -> None:
    references = REFERENCE.findall(_section())
    assert len(references) >= 20
    missing = [f"{module}::{name}" for module, name in references
               if not (HERE / module).is_file() or name not in _tests_in(HERE / module)]
    assert missing == []
