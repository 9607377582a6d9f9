"""An oracle that shares no code with the tree-sitter extractors: line-anchored regular expressions
over real code, installed from the package registries, find definitions independently; the
extractor must find nearly all of them.

Per language, every regex hit (file, line, name) must be covered by a definition of that name whose
span holds the line: recall >= the stated tolerance (regexes also hit code in comments, strings and
macro bodies, and miss nothing a grammar sees, so recall, not equality, is what they can check).

Corpora, all present without the network at test time once installed (``.ci/run`` installs them;
a missing one is skipped with the command that installs it):
- C: this Python's own headers (always there);
- JavaScript: the .js files shipped inside installed PyPI packages, and npm packages unpacked by
  ``bench/corpora.sh`` under bench/.corpora/npm (typescript, lodash, express, rxjs);
- TypeScript: the .d.ts files of those npm packages;
- C#: the sources inside the npm package edge-js;
- Go, Rust, Ruby, PHP, C++: Debian packages (golang-*-dev, librust-*-dev, ruby-rack,
  php-symfony-console, libgtest-dev); Java: the JDK's src.zip (bench/corpora.sh).
"""

from __future__ import annotations

import os
import re
import site
import sysconfig
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from codequarry.extractors.treesitter.facts import facts_of
from codequarry.language import language_of, sniff_header
from codequarry.source import SourceFile
from tests import paths

ROOT = paths.ROOT
CORPORA = ROOT / "bench" / ".corpora"
MAX_BYTES = 2_000_000  # per language: enough to be real, small enough for the suite
INSTALL = "bash bench/corpora.sh"


@dataclass(frozen=True)
class Oracle:
    language: str
    roots: tuple[Path, ...]
    patterns: tuple[str, ...]  # each with one group: the defined name
    min_recall: float
    suffixes: tuple[str, ...] = ()  # only files ending so (e.g. .d.ts)
    unparsed: str | None = None  # a regex ending at a bracket that opens what no grammar parses


_MODS = (
    r"(?:(?:public|protected|private|internal|abstract|static|final|sealed|non-sealed|strictfp|partial|unsafe"
    r"|readonly|export|default|declare|async)\s+)*"
)
ORACLES = [
    Oracle(
        "c",
        (Path(sysconfig.get_paths()["include"]),),
        (r"^\s*#\s*define\s+([A-Za-z_]\w*)", r"^(?:typedef\s+)?struct\s+([A-Za-z_]\w*)\s*\{"),
        0.98,
    ),
    Oracle(
        "javascript",
        (*(Path(p) for p in site.getsitepackages()), CORPORA / "npm"),
        (rf"^\s*{_MODS}function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(", rf"^\s*{_MODS}class\s+([A-Za-z_$][\w$]*)"),
        0.95,
    ),
    Oracle(
        "typescript",
        (CORPORA / "npm",),
        (rf"^\s*{_MODS}(?:class|interface|enum)\s+([A-Za-z_$][\w$]*)",),
        0.97,
        (".d.ts",),
    ),
    Oracle(
        "go",
        (Path("/usr/share/gocode/src"),),
        (r"^func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)", r"^type\s+([A-Za-z_]\w*)\s+(?:struct|interface)\b"),
        0.98,
    ),
    Oracle(
        "rust",
        (Path("/usr/share/cargo/registry"),),
        (
            r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"[^\"]*\"\s+)?fn\s+([A-Za-z_]\w*)",
            r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:struct|enum|trait)\s+([A-Za-z_]\w*)",
        ),
        0.97,
        unparsed=r"\b[a-z_][a-z0-9_]*!\s*(?:[A-Za-z_]\w*\s*)?[{(\[]",
    ),  # macro bodies
    Oracle(
        "java", (CORPORA / "jdk",), (rf"^\s*{_MODS}(?:class|interface|enum|record)\s+([A-Za-z_]\w*)",), 0.97
    ),
    Oracle(
        "ruby",
        (Path("/usr/lib/ruby/vendor_ruby"),),
        (r"^\s*def\s+(?:self\.)?([A-Za-z_]\w*[?!=]?)", r"^\s*(?:class|module)\s+(?:[A-Z]\w*::)*([A-Z]\w*)"),
        0.97,
    ),
    Oracle(
        "php",
        (Path("/usr/share/php"),),
        (
            rf"^\s*{_MODS}function\s+&?([A-Za-z_]\w*)\s*\(",
            rf"^\s*{_MODS}(?:class|interface|trait)\s+([A-Za-z_]\w*)",
        ),
        0.97,
    ),
    Oracle(
        "csharp",
        (CORPORA / "npm",),
        (rf"^\s*{_MODS}(?:class|interface|struct|enum|record)\s+([A-Za-z_]\w*)",),
        0.97,
    ),
    Oracle("cpp", (Path("/usr/src/googletest"),), (r"^\s*#\s*define\s+([A-Za-z_]\w*)",), 0.98),
]


def _files(oracle: Oracle) -> list[Path]:
    found: list[Path] = []
    total = 0
    for root in oracle.roots:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            dirnames[:] = [d for d in dirnames if d not in (".git", "node_modules")]
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if oracle.suffixes and not name.endswith(oracle.suffixes):
                    continue
                lang = language_of(name)
                if name.endswith(".h"):
                    lang = sniff_header(path.read_bytes()[:16384])
                if lang != oracle.language or path.is_symlink() or name.endswith(".min.js"):
                    continue
                size = path.stat().st_size
                if size > 500_000:
                    continue
                found.append(path)
                total += size
                if total > MAX_BYTES:
                    return found
    return found


def _blank_regions(text: str, opener: str) -> str:
    """Blank each bracketed region ``opener`` opens (its match ends at the bracket): token trees,
    not code, to a grammar. Line numbers stay; brackets are matched by counting."""
    out = []
    pos = 0
    for m in re.finditer(opener, text):
        if m.start() < pos:
            continue
        depth, i = 0, m.end() - 1
        while i < len(text):
            depth += text[i] in "{(["
            depth -= text[i] in "})]"
            if depth == 0:
                break
            i += 1
        out.append(text[pos : m.start()])
        out.append("\n" * text.count("\n", m.start(), i + 1))
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def _regex_hits(oracle: Oracle, path: Path, text: str) -> list[tuple[int, str]]:
    hits = []
    if oracle.language not in ("ruby",):  # commented-out code is no definition: blank /* ... */
        text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)
    if oracle.unparsed:
        text = _blank_regions(text, oracle.unparsed)
    for pattern in oracle.patterns:
        for m in re.finditer(pattern, text, re.MULTILINE):
            hits.append((text.count("\n", 0, m.start(1)) + 1, m.group(1)))
    return hits


@pytest.mark.parametrize("oracle", ORACLES, ids=[o.language for o in ORACLES])
def test_definitions_match_an_independent_count(oracle: Oracle) -> None:
    files = _files(oracle)
    if len(files) < 5:
        pytest.skip(
            f"no {oracle.language} corpus under {[str(r) for r in oracle.roots]}; install it: {INSTALL}"
        )
    hits = found = 0
    missed: list[str] = []
    for path in files:
        data = path.read_bytes()
        text = data.decode("utf-8", "replace")
        src = SourceFile(
            repo="r",
            path=str(path),
            data=data,
            sha256=None,
            size=len(data),
            language=oracle.language,
            line_count=data.count(b"\n") + 1,
        )
        facts = facts_of(src)
        assert facts is not None
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for d in facts.definitions:
            spans[d.name].append((d.node.start_point[0] + 1, d.node.end_point[0] + 1))
        for line, name in _regex_hits(oracle, path, text):
            hits += 1
            if any(a <= line <= b for a, b in spans.get(name, ())):
                found += 1
            elif len(missed) < 10:
                missed.append(f"{path}:{line} {name}")
    assert hits >= 20, f"too few regex hits ({hits}) in {len(files)} files to judge"
    recall = found / hits
    assert recall >= oracle.min_recall, (
        f"{oracle.language}: recall {recall:.3f} of {hits} regex hits; missed e.g. {missed}"
    )
