"""Every pointer to docs/istio-differences.md (CLI notes, messages, conformance cases) names a section."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "istio-differences.md"
LINK = re.compile(r"istio-differences\.md#([a-z0-9-]+)")


def _anchors() -> set[str]:
    """GitHub's anchors of the page's headings: lower case, spaces to dashes, punctuation dropped."""
    out = set()
    for line in DOC.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^a-z0-9 -]", "", title).replace(" ", "-"))
    return out


def test_every_linked_section_exists() -> None:
    """Links from the source and the tests resolve to headings of the differences page."""
    anchors = _anchors()
    files = [*ROOT.joinpath("src").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.yaml")]
    links = {(str(f.relative_to(ROOT)), a) for f in files for a in LINK.findall(f.read_text(errors="replace"))}
    assert links, "the CLI and the conformance cases point at the page"
    assert sorted(link for link in links if link[1] not in anchors) == []
