"""The trust model (docs/privacy.md) names, per party, the tests that try to learn more than
the row allows. Every test it names must exist, so the table cannot point at nothing."""

import ast
import re

from repo_paths import ROOT

TABLE_HEADING = "## Trust model of the service"


def trust_table() -> list[str]:
    text = (ROOT / "docs" / "privacy.md").read_text()
    section = text[text.index(TABLE_HEADING):]
    section = section[:section.index("\n## ", 1)]
    return [line for line in section.splitlines() if line.startswith("| **")]


def named_tests(row: str) -> list[tuple[str, str]]:
    """(file, test) pairs of a row; ``::name`` alone refers to the file named before it."""
    out: list[tuple[str, str]] = []
    current = None
    for ref in re.findall(r"`([^`]+)`", row.split("|")[5]):
        path, _, name = ref.partition("::")
        if path:
            current = path if "/" in path else f"tests/service/{path}"
        assert current is not None, ref
        out.append((current, name))
    return out


def defined_tests(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_party_row_names_tests_that_exist():
    rows = trust_table()
    assert len(rows) == 6, "operator, committee member, searcher, builder, proposer, public"
    for row in rows:
        refs = named_tests(row)
        if "as the public" in row.split("|")[5]:
            continue
        assert refs, row[:60]
        for path, name in refs:
            assert (ROOT / path).exists(), path
            if name:
                assert name in defined_tests(path), f"{path}::{name}"
