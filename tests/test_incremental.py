"""Incremental runs: the store after any sequence of edits and runs equals a fresh extract."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codequarry import extract, make_plan, open_store
from codequarry.query import table
from codequarry.testing import examples

SNIPPETS = [
    "import os\n\ndef f(x):\n    return os.path.join(x, 'a')\n",
    "from . import sib\nclass A:\n    X = 1\n    def m(self):\n        return sib.g()\n",
    "async def g():\n    await h()\n",
    "def broken(:\n",
    "x = '\\xff'\n",
    "",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import json\nY: int = 2\n",
]


def dump(store: Path) -> dict[str, list[str]]:
    """Every table of the published snapshot as sorted JSON rows (mtime and sha included)."""
    st_ = open_store(store)
    snap = st_.snapshot()
    assert snap is not None
    out = {}
    for name in sorted(snap.tables):
        rows = table(st_, name).to_pylist()
        out[name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return out


def fresh(src: Path, tmp: Path, **kw: object) -> dict[str, list[str]]:
    store = tmp / f"fresh-{len(list(tmp.iterdir()))}"
    extract(make_plan([src], store=store, workers=1, **kw))  # type: ignore[arg-type]
    return dump(store)


def run(src: Path, store: Path, **kw: object):  # type: ignore[no-untyped-def]
    return extract(make_plan([src], store=store, workers=1, **kw))  # type: ignore[arg-type]


def touch_later(p: Path) -> None:
    st_ = p.stat()
    os.utime(p, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))


def test_nothing_changed_parses_nothing_and_publishes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text(SNIPPETS[0])
    (src / "pkg" / "b.py").write_text(SNIPPETS[1])
    store = tmp_path / "store"
    first = run(src, store)
    again = run(src, store)
    assert (again.changed, again.unchanged, again.files_parsed, again.published) == (0, 2, 0, False)
    assert again.snapshot == first.snapshot
    assert len(open_store(store).history()) == 1


def test_edits_adds_deletes_and_renames_equal_a_fresh_extract(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    for i, text in enumerate(SNIPPETS):
        (src / "pkg" / f"m{i}.py").write_text(text)
    store = tmp_path / "store"
    work = tmp_path / "fresh"
    work.mkdir()
    run(src, store)
    # edit, add, delete, rename, and make the folder a package (every module name changes)
    (src / "pkg" / "m0.py").write_text(SNIPPETS[2])
    touch_later(src / "pkg" / "m0.py")
    (src / "pkg" / "new.py").write_text(SNIPPETS[6])
    (src / "pkg" / "m3.py").unlink()
    (src / "pkg" / "m1.py").rename(src / "pkg" / "renamed.py")
    s = run(src, store)
    assert (s.added, s.modified, s.deleted) == (2, 1, 2)
    assert dump(store) == fresh(src, work)
    (src / "pkg" / "__init__.py").write_text("")
    s = run(src, store)
    assert s.added == 1 and s.modified >= 4  # module names moved from 'm2' to 'pkg.m2'
    assert dump(store) == fresh(src, work)
    functions = table(open_store(store), "functions").to_pylist()
    assert {f["module"] for f in functions} <= {"pkg.m0", "pkg.renamed", "pkg.m2", "pkg.new", "pkg.m6"}


PLUGIN = """
import ast
from codequarry import dataset, file_extractor

@dataset("consts")
class Const:
    value: str
    line: int

@file_extractor("acme.consts", version={version}, needs=["ast"], outputs=[Const])
def consts(src, out):
    for node in src.nodes(ast.Constant):
        out.consts.add(value=repr(node.value) + "{suffix}", line=node.lineno)
"""


def write_plugin(folder: Path, version: int, suffix: str) -> None:
    (folder / "acme_consts.py").write_text(PLUGIN.format(version=version, suffix=suffix))
    sys.modules.pop("acme_consts", None)


def test_a_version_bump_reruns_that_extractor_alone(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    monkeypatch.syspath_prepend(str(plugins))
    src = tmp_path / "src"
    src.mkdir()
    for i, text in enumerate(SNIPPETS):
        (src / f"m{i}.py").write_text(text)
    store = tmp_path / "store"
    work = tmp_path / "fresh"
    work.mkdir()
    write_plugin(plugins, 1, "")
    run(src, store, plugins=["acme_consts"])
    before = open_store(store).snapshot()
    write_plugin(plugins, 2, "!")
    s = run(src, store, plugins=["acme_consts"])
    assert s.rerun == {"src": ["acme.consts"]} and s.changed == 0
    after = open_store(store).snapshot()
    assert before is not None and after is not None
    changed_tables = {n for n in after.tables if after.tables[n].version != before.tables[n].version}
    assert changed_tables == {"consts"}
    values = {r["value"] for r in table(open_store(store), "consts").to_pylist()}
    assert values and all(v.endswith("!") for v in values)
    assert dump(store) == fresh(src, work, plugins=["acme_consts"])

    # leaving the extractor out drops its rows and touches nothing else
    s = run(src, store, plugins=["acme_consts"], deselect=["acme"])
    assert s.dropped == {"src": ["acme.consts"]}
    last = open_store(store).snapshot()
    assert last is not None
    assert last.tables["consts"].rows == 0
    assert {n for n in last.tables if last.tables[n].version != after.tables[n].version} == {"consts"}


edits = st.lists(
    st.tuples(
        st.sampled_from(["write", "delete", "rename", "package", "unpackage"]),
        st.integers(0, 5),
        st.integers(0, len(SNIPPETS) - 1),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(edits, min_size=1, max_size=3))
def test_any_sequence_of_edits_and_runs_equals_a_fresh_extract(tmp_path_factory, steps) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("prop")
    src = base / "src"
    (src / "p").mkdir(parents=True)
    (src / "p" / "f0.py").write_text(SNIPPETS[0])
    store = base / "store"
    work = base / "fresh"
    work.mkdir()
    run(src, store)
    for batch in steps:
        for op, n, k in batch:
            target = src / "p" / f"f{n}.py"
            if op == "write":
                existed = target.exists()
                target.write_text(SNIPPETS[k] + f"# v{k}\n")
                if existed:
                    touch_later(target)
            elif op == "delete" and target.exists():
                target.unlink()
            elif op == "rename" and target.exists():
                target.rename(src / "p" / f"f{(n + 1) % 6}_r.py")
            elif op == "package":
                (src / "p" / "__init__.py").write_text(textwrap.dedent(SNIPPETS[k]))
            elif op == "unpackage" and (src / "p" / "__init__.py").exists():
                (src / "p" / "__init__.py").unlink()
        run(src, store)
        assert dump(store) == fresh(src, work)
    shutil.rmtree(base)
