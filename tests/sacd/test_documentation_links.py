"""Every relative link and image in the README and docs/ points at a file of the repository.

Result pages move (docs/results.md reports the benchmark, docs/results-paper-cpu.md the quick look)
and their figures with them; a broken link is found here, not by a reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: [text](target) and ![alt](target), without URLs and in-page anchors
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def relative_targets(page: Path) -> list[str]:
    targets = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_relative_links_resolve(page: Path):
    missing = [target for target in relative_targets(page) if not (page.parent / target).exists()]
    assert not missing, f"{page.relative_to(REPO)} links to missing files: {missing}"


def test_the_link_pattern_finds_images_and_links_and_skips_urls(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("![a](fig/a.png) [b](b.md#part) [c](https://example.org/c) [d](#anchor)\n")
    assert relative_targets(page) == ["fig/a.png", "b.md"]
