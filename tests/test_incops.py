"""Keyed incremental operations (``partition="file"`` or by key, with ``affected``): the example of
``codequarry.operation``'s docstring runs as written, re-derives only the keys a change can reach,
and every table equals a fresh extract after edits, adds, deletes and renames."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from codequarry import api, extract, make_plan, open_store
from codequarry.errors import DeclarationError
from codequarry.query import table
from tests.storedump import dump

TREE = {
    "a.py": "class Base:\n    pass\n\n\nclass Child(Base):\n    pass\n",
    "b.py": "from a import Base\n\n\nclass Other(Base):\n    pass\n",
    "tests/test_x.py": (
        "import unittest\nfrom a import Base\n\n\nclass Case(unittest.TestCase):\n"
        "    def test_one(self):\n        pass\n"
    ),
    "tests/test_y.py": "from tests.test_x import Case\n\n\nclass More(Case):\n    def test_two(self):\n        pass\n",
    "tests/test_z.py": "def test_alone():\n    pass\n",
}


def doc_example() -> str:
    """The example of the operation docstring, as a plugin module."""
    doc = api.operation.__doc__ or ""
    block = textwrap.dedent(doc.rsplit("::\n", 1)[1])
    return "import pyarrow as pa\nfrom codequarry import dataset, operation\n" + block


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    src = tmp_path / "src"
    for rel, text in TREE.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "acme_keyed.py").write_text(doc_example())
    monkeypatch.syspath_prepend(str(plugins))
    sys.modules.pop("acme_keyed", None)
    return {"src": src, "store": tmp_path / "store", "tmp": tmp_path}


def run(w: dict[str, Any], store: Path | None = None) -> Any:
    return extract(
        make_plan([w["src"]], store=store or w["store"], workers=1, plugins=["acme_keyed"], repo="src")
    )


def fresh(w: dict[str, Any], n: int) -> dict[str, list[str]]:
    store = w["tmp"] / f"fresh{n}"
    run(w, store)
    out = dump(store)
    shutil.rmtree(store)
    return out


def test_the_docstring_example_rederives_only_the_reachable_keys(world: dict[str, Any]) -> None:
    first = run(world)
    assert "keys" not in first.operations["acme.subclasses"]  # the first run is whole
    src = world["src"]
    (src / "c.py").write_text("from a import Child\n\n\nclass G(Child):\n    pass\n")
    s = run(world)
    info = s.operations["acme.subclasses"]
    assert info["changed_files"] == 1
    assert info["keys"] == 2  # c.py and a.py (Child gained a subclass); b.py is untouched
    counts = {
        r["name"]: r["subclasses"] for r in table(open_store(world["store"]), "subclass_counts").to_pylist()
    }
    assert counts["Child"] == 1 and counts["Base"] == 2
    assert dump(world["store"]) == fresh(world, 1)


@pytest.mark.parametrize(
    "step",
    ["edit_base", "delete_base", "rename_base", "delete_case", "add_case", "rename_test", "unrelated"],
)
def test_every_table_equals_a_fresh_extract_after_a_change(world: dict[str, Any], step: str) -> None:
    run(world)
    src = world["src"]
    if step == "edit_base":  # Child stops deriving from Base
        (src / "a.py").write_text("class Base:\n    pass\n\n\nclass Child:\n    pass\n")
    elif step == "delete_base":
        (src / "a.py").unlink()
    elif step == "rename_base":
        (src / "a.py").rename(src / "a2.py")
    elif step == "delete_case":  # More is no longer a unittest case: its test goes
        (src / "tests" / "test_x.py").unlink()
    elif step == "add_case":  # a module named like the base of More: the lookup by short name changes
        (src / "tests" / "test_w.py").write_text("class Case:\n    def test_w(self):\n        pass\n")
    elif step == "rename_test":
        (src / "tests" / "test_y.py").rename(src / "tests" / "test_v.py")
    else:
        (src / "tests" / "test_z.py").write_text("def test_alone():\n    assert 1\n")
    s = run(world)
    assert dump(world["store"]) == fresh(world, 1)
    if step == "unrelated":  # one file's tests, nothing else
        assert s.operations["python.tests.cases"]["keys"] == 1


def test_tests_cases_reads_the_class_rows_only_when_a_class_or_a_pending_method_asks(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-run process builds the class index of `python.tests.cases` (every class row of
    `test_facts`) only for a changed file that defines or defined a class, or a re-derived file
    with a pending method: an edit of a file of plain test functions reads none; the rows stay a
    fresh extract's."""
    from codequarry.extractors.python.tasks import testcases

    reads: list[int] = []
    real = testcases._class_rows
    monkeypatch.setattr(testcases, "_class_rows", lambda ctx: reads.append(1) or real(ctx))
    run(world)
    assert reads == [1]  # the whole run
    src = world["src"]
    (src / "tests" / "test_z.py").write_text("def test_alone():\n    assert 2\n")
    s = run(world)
    assert s.operations["python.tests.cases"]["keys"] == 1 and reads == [1]
    assert dump(world["store"]) == fresh(world, 1)
    reads.clear()
    (src / "tests" / "test_y.py").write_text(
        TREE["tests/test_y.py"] + "\n    def test_three(self):\n        pass\n"
    )
    s = run(world)
    assert s.operations["python.tests.cases"]["ran"] and reads == [1]
    assert dump(world["store"]) == fresh(world, 2)


def test_a_keyed_operation_outside_its_keys_fails_the_run(world: dict[str, Any]) -> None:
    from codequarry.operations import OperationError

    liar = doc_example().replace("return ctx.only_keys(rows)", "return rows")
    (world["tmp"] / "plugins" / "acme_keyed.py").write_text(liar)
    sys.modules.pop("acme_keyed", None)
    run(world)
    before = open_store(world["store"]).snapshot()
    (world["src"] / "c.py").write_text("class Lone:\n    pass\n")
    with pytest.raises(OperationError, match="outside the"):
        run(world)
    after = open_store(world["store"]).snapshot()
    assert before is not None and after is not None and after.id == before.id


def test_declaration_errors() -> None:
    from codequarry import dataset, operation

    @dataset("keyed_things")
    class Thing:
        n: int

    with pytest.raises(DeclarationError, match="needs a keyed partition"):
        operation("acme.a", version=1, inputs=["x"], outputs=[Thing], affected=lambda c, k: k)(lambda c: c)
    with pytest.raises(DeclarationError, match="every output"):
        operation("acme.b", version=1, inputs=["x"], outputs=[Thing], partition={"other": "path"})(
            lambda c: c
        )
    with pytest.raises(DeclarationError, match="must be str"):
        operation("acme.c", version=1, inputs=["x"], outputs=[Thing], partition={"keyed_things": "n"})(
            lambda c: c
        )
    with pytest.raises(DeclarationError, match="use 'repo', 'file'"):
        operation("acme.d", version=1, inputs=["x"], outputs=[Thing], partition="module")(lambda c: c)


def test_changed_files_ignores_rows_carried_over_by_a_rewrite() -> None:
    import pyarrow as pa

    from codequarry.partitions import differing_keys

    old = pa.table({"repo": ["r"] * 4, "path": ["a", "a", "b", "c"], "v": [1, 2, 3, 4]})
    new = pa.table({"repo": ["r"] * 4, "path": ["c", "a", "a", "b"], "v": [5, 2, 1, 3]})
    assert differing_keys(old, new) == {("r", "c")}
    assert differing_keys(old, None) == {("r", "a"), ("r", "b"), ("r", "c")}
    assert differing_keys(old, old.slice(0, 3)) == {("r", "c")}


MODELS = {
    "core/__init__.py": "from core.bases import Stamped as Base\n",
    "core/bases.py": (
        "from django.db import models\n\n\nclass Stamped(models.Model):\n"
        "    created = models.DateTimeField()\n\n    class Meta:\n        abstract = True\n"
    ),
    "shop/models.py": (
        "from django.db import models\nfrom core import Base\n\n\nclass Item(Base):\n"
        "    name = models.CharField(max_length=9)\n    owner = models.ForeignKey('Owner', on_delete=models.CASCADE)\n"
    ),
    "shop/owners.py": "from django.db import models\n\n\nclass Owner(models.Model):\n    nick = models.CharField(max_length=3)\n",
    "api/schemas.py": (
        "from pydantic import BaseModel\n\n\nclass In(BaseModel):\n    a: int\n\n\nclass Out(In):\n    b: str\n"
    ),
    "api/more.py": "from api.schemas import Out\n\n\nclass Deep(Out):\n    c: float\n",
}

MODEL_STEPS = {
    "base_field": ("core/bases.py", MODELS["core/bases.py"] + "    updated = models.DateTimeField()\n"),
    "base_concrete": (
        "core/bases.py",
        MODELS["core/bases.py"].replace("abstract = True", "abstract = False"),
    ),
    "reexport": ("core/__init__.py", "from django.db.models import Model as Base\n"),
    "reexport_gone": ("core/__init__.py", "x = 1\n"),
    "owner_gone": ("shop/owners.py", None),
    "schema_field": ("api/schemas.py", MODELS["api/schemas.py"].replace("a: int", "a: int\n    z: bytes")),
    "schema_gone": ("api/schemas.py", None),
    "unrelated": ("shop/owners.py", MODELS["shop/owners.py"] + "\n\ndef f():\n    return 1\n"),
}


@pytest.fixture(params=[False, True], ids=["read", "cached"])
def cached(request: pytest.FixtureRequest) -> Any:
    """Runs reading their inputs from the store, and from the part cache `quarry watch` keeps."""
    from codequarry import partcache

    partcache.enable(request.param)
    yield request.param
    partcache.enable(False)


def tree(world: dict[str, Any], files: dict[str, str]) -> Path:
    """The world's source folder holding exactly ``files``."""
    src: Path = world["src"]
    shutil.rmtree(src)
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return src


def change(src: Path, rel: str, text: str | None) -> None:
    """One step of a test: ``rel`` deleted (None), renamed (``"->new"``) or given ``text``."""
    if text is None:
        (src / rel).unlink()
    elif text.startswith("->"):
        (src / rel).rename(src / text[2:])
    else:
        (src / rel).write_text(text)


@pytest.mark.parametrize("step", sorted(MODEL_STEPS))
def test_models_across_files_equal_a_fresh_extract(world: dict[str, Any], step: str, cached: bool) -> None:
    src = tree(world, MODELS)
    first = run(world)
    assert first.operations["python.models.resolve"]["rows"]["orm_models"] == 3
    rel, text = MODEL_STEPS[step]
    change(src, rel, text)
    s = run(world)
    assert dump(world["store"]) == fresh(world, 1)
    info = s.operations["python.models.resolve"]
    if step == "unrelated":  # Owner, and Item whose foreign key names it; nothing else
        assert info.get("keys") == 2
    if step == "schema_field":  # In, Out (inherits a) and Deep (inherits both): not the ORM models
        assert info.get("keys") == 3


#: models whose bases reach their class through re-exports in other files (``ClassGraph.canon``):
#: ``Item`` writes ``core.facade.Stamped``; ``core.facade`` is ``core.api`` (a module bound by an
#: import in core/__init__.py), whose ``Stamped`` is ``core.bases.Stamped``; ``Tag`` writes
#: ``core.api.Stamped``. misc/util.py imports ``models`` (a name every Django base writes) and no model.
ALIASED = {
    "core/__init__.py": "from core import api as facade\n",
    "core/api.py": "from core.bases import Stamped\n",
    "core/bases.py": (
        "from django.db import models\n\n\nclass Stamped(models.Model):\n"
        "    created = models.DateTimeField()\n\n    class Meta:\n        abstract = True\n"
    ),
    "core/other.py": "class Plain:\n    pass\n",
    "shop/__init__.py": "",
    "misc/__init__.py": "",
    "shop/models.py": (
        "from django.db import models\nfrom core import facade\n\n\nclass Item(facade.Stamped):\n"
        "    name = models.CharField(max_length=9)\n"
    ),
    "shop/tags.py": (
        "from django.db import models\nfrom core.api import Stamped\n\n\nclass Tag(Stamped):\n"
        "    label = models.CharField(max_length=9)\n"
    ),
    "shop/owners.py": "from django.db import models\n\n\nclass Owner(models.Model):\n    nick = models.CharField(max_length=3)\n",
    "misc/util.py": "from django.db import models\n\n\ndef f():\n    return models\n",
}

#: step -> (file, new text: None deletes it, a str starting with "->" renames it), and the models
#: the run must re-derive: the narrowing may not reach fewer (the fresh extract says whether the
#: rows are right), and should not reach more
ALIASED_STEPS: dict[str, tuple[str, str | None, int]] = {
    # Item (through core.facade -> core.api) and Tag lose their base: neither is a model any more
    "rename_reexporter": ("core/api.py", "->core/api2.py", 2),
    "delete_reexporter": ("core/api.py", None, 2),
    "retarget_reexport": ("core/api.py", "from core.other import Plain as Stamped\n", 2),
    # core.facade names another module: Item's base no longer resolves; Tag's is untouched
    "retarget_module": ("core/__init__.py", "from core import other as facade\n", 1),
    # an import of a name bases write, in a file of no model, moved: no model's rows can change
    "rename_unrelated": ("misc/util.py", "->misc/util2.py", 0),
    "delete_unrelated": ("misc/util.py", None, 0),
}


@pytest.mark.parametrize("step", sorted(ALIASED_STEPS))
def test_models_through_moved_reexports_equal_a_fresh_extract(
    world: dict[str, Any], step: str, cached: bool
) -> None:
    src = tree(world, ALIASED)
    first = run(world)
    models = {r["fqn"] for r in table(open_store(world["store"]), "orm_models").to_pylist()}
    assert {"shop.models.Item", "shop.tags.Tag", "shop.owners.Owner"} <= models, models
    rel, text, reached = ALIASED_STEPS[step]
    assert first.operations["python.models.resolve"]["rows"]["orm_models"] == len(models)
    change(src, rel, text)
    s = run(world)
    assert dump(world["store"]) == fresh(world, 1)
    info = s.operations["python.models.resolve"]
    assert info.get("keys", 0) == reached, info
    after = {r["fqn"] for r in table(open_store(world["store"]), "orm_models").to_pylist()}
    if reached:  # the step changes which classes are models (else the test would prove nothing)
        assert after != models


@pytest.mark.parametrize("step", sorted(ALIASED_STEPS))
def test_models_past_the_alias_budget_still_equal_a_fresh_extract(
    world: dict[str, Any], step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two modules importing each other make the reach's alias enumeration grow without end
    (``posixpath.os.path.os.x``; a stdlib rename ran for minutes): past ``_ALIAS_BUDGET`` the reach
    falls back to the aliases' last names. With a budget of 0 every reach takes that path: it may
    re-derive more classes, never fewer, and every table equals a fresh extract."""
    from codequarry.extractors.python.models import affected

    src = tree(world, ALIASED)
    run(world)
    rel, text, reached = ALIASED_STEPS[step]
    change(src, rel, text)
    monkeypatch.setattr(affected, "_ALIAS_BUDGET", 0)
    s = run(world)
    assert s.operations["python.models.resolve"].get("keys", 0) >= reached
    assert dump(world["store"]) == fresh(world, 1)


def test_a_cycle_of_imports_does_not_blow_up_the_alias_reach() -> None:
    """The enumeration itself: a pair of modules importing each other under several names gives
    (names)^steps aliases; it stops at the budget instead."""
    from codequarry.extractors.python.models.affected import _ALIAS_BUDGET, _through, _TooMany

    by_target = {"a": {f"b.a{i}" for i in range(6)}, "b": {f"a.b{i}" for i in range(6)}}
    with pytest.raises(_TooMany):
        _through({"b.a0.x"}, by_target, set())
    seen: set[str] = set()
    small = _through({"b.a0.x"}, {"a": {"b.a0"}, "b": {"a.b0"}}, seen)  # one name each way: a chain
    assert "a.b0.a0.x" in small and len(small) <= 12 and len(seen) < _ALIAS_BUDGET


def test_before_and_rows_of_files_read_what_a_whole_scan_reads(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ctx.before`` reads an older version's rows of the changed files from only some parts (those
    the new version dropped, and those both have that the record says hold a changed file), and
    ``ctx.rows_of_files`` the present rows from the parts holding them: both equal a filter over
    every part, without the whole read. The changed files include one that did not change (its old
    rows are in a part both versions share), one that is gone and one that is new."""
    import pyarrow as pa

    import codequarry.operations as ops
    from codequarry.operations import OperationContext
    from codequarry.store import keyindex
    from codequarry.store.outputs import key_filter
    from codequarry.store.store import live_dataset

    def rows(data: pa.Table) -> list[str]:
        return sorted(map(repr, data.to_pylist()))

    run(world)
    src = world["src"]
    (src / "tests" / "test_z.py").write_text("def test_alone():\n    assert 2\n")
    run(world)  # test_z.py's rows now in parts of their own, which the next run keeps
    store = open_store(world["store"])
    old = store.snapshot()
    (src / "a.py").write_text("class Base:\n    pass\n\n\nclass Child(Base):\n    x = 2\n")
    (src / "b.py").rename(src / "b2.py")
    (src / "tests" / "test_y.py").unlink()
    run(world)
    new = store.snapshot()
    assert old is not None and new is not None
    names = ["imports", "modules", "test_facts", "model_classes", "files"]
    keys = {("src", p) for p in ["a.py", "b.py", "b2.py", "tests/test_y.py", "tests/test_z.py"]}
    ctx = OperationContext(
        store,
        new.tables,
        inputs=tuple(names),
        changed=frozenset(keys),
        before={n: old.tables[n].version for n in names},
    )
    wholes = {
        n: (
            live_dataset(store, n, old.tables[n].version).to_table(),
            live_dataset(store, n, new.tables[n].version).to_table(),
        )
        for n in names
    }

    def no_whole_read(*args: Any) -> Any:
        raise AssertionError("a whole read")

    monkeypatch.setattr(ops, "live_dataset", no_whole_read)
    keyindex.forget_kept()  # as in an operation's worker process: only the records on disk
    for name in names:
        assert old.tables[name].version != new.tables[name].version, name
        was, now = wholes[name]
        assert rows(ctx.before(name)) == rows(was.filter(key_filter(was, ("repo", "path"), keys))), name
        assert rows(ctx.before(name, ["path"])) == rows(
            was.filter(key_filter(was, ("repo", "path"), keys)).select(["repo", "path"])
        )
        assert rows(ctx.rows_of_files(name, keys)) == rows(
            now.filter(key_filter(now, ("repo", "path"), keys))
        )
    assert "tests/test_z.py" in ctx.before("test_facts")["path"].to_pylist()


def _tests_parts(store: Path) -> dict[str, set[str]]:
    """Each live part of the ``tests`` table -> the paths of its rows."""
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    folder = store / "tables" / "tests"
    return {
        Path(u).name: set(pq.read_table(u, columns=["path"]).column("path").to_pylist())
        for u in DeltaTable(str(folder)).file_uris()
    }


def test_a_large_whole_output_is_written_in_parts_cut_at_file_boundaries(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole output larger than OUTPUT_PART_BYTES is written sorted by (repo, path) in parts of about
    that size, so that re-deriving one file rewrites the part holding it and not every row (before:
    one part held every row of ``tests`` and a one-file change rewrote it whole)."""
    from codequarry import operations

    monkeypatch.setattr(operations, "OUTPUT_PART_BYTES", 4096)
    cases = {
        f"tests/test_m{i:02}.py": "import unittest\n\n\nclass Case(unittest.TestCase):\n"
        + "".join(f"    def test_{j}(self):\n        pass\n\n" for j in range(250))
        for i in range(16)
    }
    src = tree(world, cases)
    run(world)
    parts = _tests_parts(world["store"])
    assert len(parts) >= 3
    for rel in cases:  # a file's rows sit in one part, or two where a part ends
        assert 1 <= sum(rel in paths for paths in parts.values()) <= 2
    edited = "tests/test_m07.py"
    (src / edited).write_text(cases[edited] + "    def test_more(self):\n        pass\n")
    s = run(world)
    assert s.operations["python.tests.cases"]["ran"]
    after = _tests_parts(world["store"])
    kept = set(parts) & set(after)
    assert {p for p in parts if p not in kept} == {p for p, paths in parts.items() if edited in paths}
    assert len(kept) >= len(parts) - 2
    assert dump(world["store"]) == fresh(world, 1)


_NAMES = ["a.A", "a.B", "b.A", "b.C", "Base", "x.Base", "Model"]


def _class_rows(rows: list[tuple[str, str, int, str, str, list[str], list[str]]]) -> Any:
    import pyarrow as pa

    cols = ["repo", "path", "line", "kind", "fqn", "bases", "decorators"]
    data: dict[str, Any] = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    data["col"] = [0] * len(rows)
    data["decorators"] = [[{"name": d} for d in ds] for ds in data["decorators"]]
    schema = pa.schema(
        [
            ("repo", pa.string()),
            ("path", pa.string()),
            ("line", pa.int64()),
            ("kind", pa.string()),
            ("fqn", pa.string()),
            ("bases", pa.list_(pa.string())),
            ("decorators", pa.list_(pa.struct([("name", pa.string())]))),
            ("col", pa.int64()),
        ]
    )
    return pa.table(data, schema=schema)


def test_the_flipped_base_last_parts_split_by_name_equal_two_whole_passes() -> None:
    """``affected.flips`` walks the unchanged names' rows once; it must give what two passes of
    ``_lasts`` over the whole table (now, and with the changed files' rows as before) give."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from codequarry.extractors.python.models.affected import _lasts, flips
    from codequarry.store.outputs import key_filter

    row = st.tuples(
        st.sampled_from(["r1", "r2"]),
        st.sampled_from(["p1.py", "p2.py", "p3.py"]),
        st.integers(1, 4),
        st.sampled_from(["class", "alias", "factory"]),
        st.sampled_from(_NAMES),
        st.lists(st.sampled_from([*_NAMES, "m.Other", "Plain"]), max_size=2),
        st.lists(st.sampled_from(["dataclass", "x.register"]), max_size=1),
    )

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(row, max_size=12),
        st.lists(row, max_size=6),
        st.sets(st.tuples(st.sampled_from(["r1", "r2"]), st.sampled_from(["p1.py", "p2.py", "p3.py"]))),
    )
    def check(now_rows: list[Any], old_rows: list[Any], changed: set[tuple[str, str]]) -> None:
        import pyarrow.compute as pc

        # an alias row names its target as its first base (models/classes.py)
        now_rows = [r for r in now_rows if r[3] != "alias" or r[5]]
        old_rows = [r for r in old_rows if r[3] != "alias" or r[5]]

        everything = _class_rows(now_rows)
        before = _class_rows([r for r in old_rows if (r[0], r[1]) in changed])
        rest = everything.filter(pc.invert(key_filter(everything, ("repo", "path"), changed)))
        a, b = _lasts(everything), _lasts(pa_concat(rest, before))
        assert flips(everything, before, changed) == (a ^ b, a | b)

    check()


def pa_concat(a: Any, b: Any) -> Any:
    import pyarrow as pa

    return pa.concat_tables([a, b])
