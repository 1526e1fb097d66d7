"""The docs cannot drift from the node declarations: the reference page is regenerated and
compared, and every hand-written node guide's parameter table names exactly the node's
parameters with their real defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reelfix.nodes import BUILTIN
from reelfix.nodes.reference import reference_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "nodes"
ROW = re.compile(r"^\|\s*`(\w+)`\s*\|\s*([^|]+?)\s*\|")


def test_reference_page_is_generated_from_the_declarations() -> None:
    page = (DOCS / "reference.md").read_text()
    assert page == reference_markdown(BUILTIN), "docs/nodes/reference.md is stale: run `make docs`"


@pytest.mark.parametrize("spec", BUILTIN, ids=lambda s: s.name)
def test_every_node_has_a_guide_whose_table_matches(spec) -> None:
    guide = DOCS / f"{spec.name}.md"
    assert guide.is_file(), f"docs/nodes/{spec.name}.md is missing"
    rows = {m.group(1): m.group(2) for line in guide.read_text().splitlines() if (m := ROW.match(line))}
    assert set(rows) == {p.name for p in spec.params}, f"{guide.name}: parameter table differs from the declaration"
    for p in spec.params:
        shown = rows[p.name].strip("` ").lower()
        want = str(p.default).lower()
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            shown, want = (f"{float(shown):g}" if re.fullmatch(r"-?[\d.]+", shown) else shown), f"{p.default:g}"
        assert shown == want or (want == "" and shown in ("''", '""', "(empty)", "empty")), (
            f"{guide.name}: `{p.name}` default shown as {rows[p.name]!r}, declared {p.default!r}"
        )
