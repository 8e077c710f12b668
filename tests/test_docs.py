"""The README and docs/: every relative link resolves, the README stays a front door.

A link is a Markdown link or image, ``[text](path)`` or ``[text](path#anchor)``, or a reference
definition ``[label]: path``, outside code. Its path must name an existing file or folder, relative
to the Markdown file; an ``#anchor`` into a Markdown file must name one of its headings, slugged as
GitHub does. Links with a scheme (``https:``, ``mailto:``) are not checked: the tests run offline.
"""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    lines, fenced = [], None
    for number, line in enumerate(text.splitlines(), 1):
        fence = _FENCE.match(line)
        if fence:
            if fenced is None:
                fenced = fence.group(1)
            elif fence.group(1) == fenced:
                fenced = None
            continue
        if fenced is None:
            lines.append((number, _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its rendered text lowercased, punctuation dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file; repeated headings get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link in a Markdown file, outside code."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        found += [(number, m.group(1)) for m in _INLINE_LINK.finditer(line)]
        if reference := _REFERENCE.match(line):
            found.append((number, reference.group(1)))
    return found


def dangling_links(path: Path, root: Path = ROOT) -> list[str]:
    """'file:line: link (why)' for each relative link of ``path`` that does not resolve."""
    problems = []
    for number, target in links(path):
        if _SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path.resolve()
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not resolved.exists():
            problems.append(
                f"{where} (no such file: {resolved.relative_to(root) if resolved.is_relative_to(root) else resolved})"
            )
        elif anchor and resolved.suffix == ".md" and unquote(anchor).lower() not in anchors(resolved):
            problems.append(f"{where} (no heading with anchor #{anchor} in {resolved.relative_to(root)})")
    return problems


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    assert doc.exists()
    problems = dangling_links(doc)
    assert not problems, "dangling links:\n" + "\n".join(problems)


def test_the_link_check_names_file_line_and_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# Speed\n\n## GPU options (opt-in)\n\n## GPU options (opt-in)\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n"
        "[ok](docs/b.md) [ok](docs/b.md#gpu-options-opt-in) [ok](docs/b.md#gpu-options-opt-in-1) [ok](#title)\n"
        "[web](https://example.org/missing.md) `[code](missing.md)`\n"
        "```\n[in a fence](missing.md)\n```\n"
        "[gone](docs/design.md) and ![figure](img/x.png)\n"
        "[bad anchor](docs/b.md#gpu-speed)\n"
        "[ref]: docs/c.md\n"
    )
    assert dangling_links(readme, tmp_path) == [
        "README.md:7: docs/design.md (no such file: docs/design.md)",
        "README.md:7: img/x.png (no such file: img/x.png)",
        "README.md:8: docs/b.md#gpu-speed (no heading with anchor #gpu-speed in docs/b.md)",
        "README.md:9: docs/c.md (no such file: docs/c.md)",
    ]


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("The MusicMagus baseline (Table III)", "the-musicmagus-baseline-table-iii"),
        ("`difftone edit`: one edit", "difftone-edit-one-edit"),
        ("Speed: the GPU options & the benchmark", "speed-the-gpu-options--the-benchmark"),
        ("[Cluster](docs/cluster.md) in short", "cluster-in-short"),
    ],
)
def test_headings_slug_as_on_github(heading, anchor):
    assert slug(heading) == anchor


def test_readme_is_a_front_door_of_at_most_200_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move detail into docs/"


def test_docs_name_no_issue_numbers():
    """Docs say what a target or a change is, not which tracker entry asked for it."""
    found = [
        f"{doc.relative_to(ROOT)}:{number}: {line.strip()}"
        for doc in doc_files()
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bissues? ?#?\d+", line, re.IGNORECASE)
    ]
    assert not found, "\n".join(found)
