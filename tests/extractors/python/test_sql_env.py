"""The ``sql_strings`` and ``env_reads`` tables: golden rows of the fixture app, how SQL was built,
every recognised environment read, the documented SQL, and facts of Django's own source.

Golden files: ``tests/fixtures/security/shop/`` is a small Django + Flask app; ``shop.<part>.expected.json``
holds its expected rows (provenance ``repo`` and ``sha256`` left out). After an intended change,
regenerate with ``pytest tests/extractors/python/test_sql_env.py tests/extractors/python/test_security.py
--update-golden`` and review the diff.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.testing import assert_golden, extract_rows, write_tree
from tests import paths

FIXTURES = paths.FIXTURES / "security"
SHOP = FIXTURES / "shop"
DOC = paths.ROOT / "docs" / "tables" / "security.md"
PLUGINS = [
    "codequarry.extractors.python.security.sqlstrings",
    "codequarry.extractors.python.security.envreads",
    "codequarry.extractors.python.security.findings",
]
SELECT = ["python.sql", "python.env", "python.security"]


# -- running the extractors in-process ----------------------------------------------------------------


def run_snippets(tmp: Path, files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Write ``{relative path: source}`` (dedented) under ``tmp`` and extract them."""
    write_tree(tmp, {rel: textwrap.dedent(source) for rel, source in files.items()})
    return extract_rows(tmp, select=SELECT)


@cache
def shop_rows() -> dict[str, list[dict[str, Any]]]:
    return extract_rows(SHOP, select=SELECT)


def rows(dataset: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in shop_rows().get(dataset, []) if all(r[k] == v for k, v in match.items())]


def one(dataset: str, **match: Any) -> dict[str, Any]:
    found = rows(dataset, **match)
    assert len(found) == 1, f"{len(found)} {dataset} rows match {match}: {found}"
    return found[0]


# -- golden files ----------------------------------------------------------------------------------------


def check_golden(part: str, datasets: tuple[str, ...]) -> None:
    """Compare the fixture app's rows of ``datasets`` with ``shop.<part>.expected.json``."""
    tables = shop_rows()
    assert not tables["errors"], tables["errors"]
    for name in datasets:
        for row in tables[name]:
            assert row["repo"] == "shop" and len(row["sha256"]) == 64
    assert_golden(tables, FIXTURES / f"shop.{part}.expected.json", datasets=datasets)


def test_golden() -> None:
    check_golden("sql_env", ("sql_strings", "env_reads"))


# -- sql_strings on the fixture app ------------------------------------------------------------------------


def test_variable_traced_through_fstring_and_augmented_concat() -> None:
    row = one("sql_strings", path="shop/db.py", scope="search")
    assert (row["build"], row["techniques"], row["interpolated"]) == (
        "concat",
        ["concat", "fstring"],
        ["term", "order"],
    )
    assert row["sql"] == "SELECT * FROM products WHERE name LIKE '%{term}%' ORDER BY {order}"
    assert row["expression"] == "sql" and row["assigned_line"] == 20 and not row["has_params"]


def test_module_constant_is_a_literal_with_params() -> None:
    row = one("sql_strings", path="shop/db.py", scope="orders_for")
    assert (row["build"], row["is_interpolated"], row["has_params"]) == ("literal", False, True)
    assert row["sql"] == "SELECT id, total FROM orders WHERE user_id = ?" and row["assigned_line"] == 8


def test_text_wrapper_is_one_row_at_the_execute() -> None:
    row = one("sql_strings", path="shop/db.py", scope="report")
    assert (row["sink"], row["wrapper"], row["build"]) == ("execute", "sqlalchemy.text", "fstring")
    assert not rows("sql_strings", path="shop/db.py", scope="report", sink="text")
    # a text() assigned first is its own row; the execute of the variable cannot see the text
    safe = {r["sink"]: r for r in rows("sql_strings", path="shop/db.py", scope="report_safe")}
    assert safe["text"]["build"] == "literal" and safe["execute"]["build"] == "call"


def test_local_text_function_is_no_sink() -> None:
    assert not rows("sql_strings", path="shop/reports.py")


def test_django_sinks() -> None:
    raw = one("sql_strings", path="shop/views.py", sink="raw")
    assert (raw["build"], raw["interpolated"]) == ("fstring", ["q"])
    extra = {r["arg"]: r for r in rows("sql_strings", path="shop/views.py", sink="extra")}
    assert extra["where[0]"]["build"] == "percent" and extra["where[0]"]["interpolated"] == [
        'request.GET["min"]'
    ]
    assert extra["select['rank']"]["build"] == "literal"
    rawsql = one("sql_strings", path="shop/views.py", sink="RawSQL")
    assert (rawsql["build"], rawsql["has_params"]) == ("literal", True)


def test_placeholders_joined_are_not_interpolation() -> None:
    row = one("sql_strings", path="shop/db.py", scope="by_ids")
    assert not row["is_interpolated"] and row["sql"] == "SELECT * FROM items WHERE id IN (?, ?, ...)"


@pytest.mark.parametrize(
    ("source", "build", "techniques", "interpolated", "looks_like_sql"),
    [
        ('cur.execute("SELECT 1")', "literal", [], [], True),
        ('cur.execute(f"SELECT * FROM t")', "literal", [], [], True),  # no placeholder
        ('cur.execute(f"DELETE FROM t WHERE id = {x.id!r}")', "fstring", ["fstring"], ["x.id"], True),
        ('cur.execute("SELECT %s FROM %s" % (col, "t"))', "percent", ["percent"], ["col"], True),
        ('cur.execute("SELECT {c} FROM t".format(c=col))', "format", ["format"], ["col"], True),
        ('cur.execute("SELECT * FROM t WHERE " + " AND ".join(conds))', "concat", ["join"], ["conds"], True),
        ('cur.execute("select * from t where a = " + str(x))', "concat", ["concat"], ["str(x)"], True),
        ('cur.execute("SELECT 1" if x else "SELECT 2")', "literal", [], [], True),
        ('cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(t)))', "composed", [], [], True),
        ("cur.execute(x)", "parameter", [], [], False),
        ("cur.execute(self.query)", "attribute", [], [], False),
        ("cur.execute(build())", "call", [], [], False),
        ('runner.execute(f"task {x}")', "fstring", ["fstring"], ["x"], False),  # not SQL-looking
    ],
)
def test_how_sql_was_built(
    tmp_path: Path,
    source: str,
    build: str,
    techniques: list[str],
    interpolated: list[str],
    looks_like_sql: bool,
) -> None:
    got = run_snippets(tmp_path, {"m.py": f"def f(cur, runner, x, col, conds, sql, t):\n    {source}\n"})
    [row] = got["sql_strings"]
    assert (row["build"], row["techniques"], row["interpolated"], row["looks_like_sql"]) == (
        build,
        techniques,
        interpolated,
        looks_like_sql,
    )
    assert row["is_interpolated"] == bool(interpolated)


def test_tracing_takes_the_last_assignment_before_the_sink(tmp_path: Path) -> None:
    got = run_snippets(
        tmp_path,
        {
            "m.py": """
        QUERY = "SELECT * FROM users"

        def f(cur, name):
            q = f"SELECT * FROM t WHERE name = '{name}'"
            cur.execute(q)
            q = "SELECT * FROM t"
            cur.execute(q)
            cur.execute(QUERY)
            q = "SELECT * FROM t WHERE a = "
            q += name
            cur.execute(q)

        def g(cur, rows):
            for row in rows:
                cur.execute(row)
    """
        },
    )
    by_line = {r["line"]: r for r in got["sql_strings"]}
    assert (by_line[6]["build"], by_line[6]["assigned_line"]) == ("fstring", 5)
    assert (by_line[8]["build"], by_line[8]["assigned_line"]) == ("literal", 7)
    assert (by_line[9]["sql"], by_line[9]["assigned_line"]) == ("SELECT * FROM users", 2)
    assert (by_line[12]["build"], by_line[12]["interpolated"]) == ("concat", ["name"])
    assert by_line[16]["build"] == "name"  # a loop variable is not traced


def test_sinks_need_the_right_imports(tmp_path: Path) -> None:
    got = run_snippets(
        tmp_path,
        {
            "a.py": "from sqlalchemy import text as t\nq = t(f'SELECT {x}')\n",  # aliased import: a sink
            "b.py": "def text(s):\n    return s\nq = text(f'SELECT {x}')\n",  # no sqlalchemy: no sink
            "c.py": "objects.raw(f'SELECT {x}')\n",  # raw() only counts in files importing django
            "d.py": "import pandas as pd\ndf = pd.read_sql(f'SELECT * FROM {t}', con, params=None)\n",
        },
    )
    sinks = {(r["path"], r["sink"]) for r in got["sql_strings"]}
    assert sinks == {("a.py", "text"), ("d.py", "read_sql")}


# -- env_reads -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "api", "name", "has_default", "default", "raises"),
    [
        ('os.environ["HOME"]', "os.environ[]", "HOME", False, None, True),
        ('os.environ.get("HOME")', "os.environ.get", "HOME", False, None, False),
        ('os.environ.get("HOME", "/root")', "os.environ.get", "HOME", True, '"/root"', False),
        ('os.getenv("HOME") or "/root"', "os.getenv", "HOME", True, '"/root"', False),
        ('os.getenv("HOME", default=None)', "os.getenv", "HOME", True, "None", False),
        ('os.environ.setdefault("TZ", "UTC")', "os.environ.setdefault", "TZ", True, '"UTC"', False),
        ('os.environ.pop("TZ")', "os.environ.pop", "TZ", False, None, True),
        ('os.environb[b"PATH"]', "os.environb[]", "b'PATH'", False, None, True),
        ("E.get(key)", "os.environ.get", None, False, None, False),
        ('ENV["PATH"]', "os.environ[]", "PATH", False, None, True),
    ],
)
def test_os_reads(
    tmp_path: Path,
    source: str,
    api: str,
    name: str | None,
    has_default: bool,
    default: str | None,
    raises: bool,
) -> None:
    got = run_snippets(
        tmp_path,
        {
            "m.py": f"import os\nfrom os import environ as E\nENV = os.environ\n\n"
            f"def f(key):\n    return {source}\n"
        },
    )
    [row] = got["env_reads"]
    if name == "b'PATH'":  # a bytes key is not a str literal: no name, the key as written
        assert row["name"] is None and row["name_expr"] == 'b"PATH"'
    else:
        assert row["name"] == name
    assert (row["api"], row["has_default"], row["default"], row["raises_if_unset"]) == (
        api,
        has_default,
        default,
        raises,
    )
    assert row["scope"] == "f"


def test_writes_and_look_alikes_are_not_reads(tmp_path: Path) -> None:
    got = run_snippets(
        tmp_path,
        {
            "a.py": """
            import os
            os.environ["A"] = "1"
            del os.environ["B"]
            print("C" in os.environ, dict(os.environ), os.environ.copy())
        """,
            "b.py": """
            environ = {"HOME": "/x"}
            def getenv(name):
                return name
            print(environ["HOME"], environ.get("HOME"), getenv("HOME"))
        """,
            "c.py": """
            import os
            def f(environ):
                return environ["HOME"]
        """,
        },
    )
    assert got.get("env_reads", []) == []


def test_settings_libraries() -> None:
    reads = {r["name"]: r for r in rows("env_reads", path="shop/settings/base.py")}
    assert (
        reads["DJANGO_SECRET_KEY"]["api"] == "environ.Env" and reads["DJANGO_SECRET_KEY"]["raises_if_unset"]
    )
    assert (reads["DATABASE_URL"]["api"], reads["DATABASE_URL"]["cast"]) == ("environ.Env.db", "db_url")
    assert (reads["DEBUG"]["cast"], reads["DEBUG"]["default"]) == ("bool", "False")
    config = {r["name"]: r for r in rows("env_reads", path="shop/config.py")}
    assert config["STRIPE_KEY"]["raises_if_unset"] and not config["STRIPE_KEY"]["has_default"]
    assert (config["RETRIES"]["cast"], config["RETRIES"]["default"]) == ("int", "3")
    assert config["SHOP_DATABASE_URL"]["raises_if_unset"] and config["SHOP_DATABASE_URL"]["cast"] == "str"
    assert config["SHOP_DEBUG"]["default"] == "False"
    assert config["REDIS"]["default"] == '"redis://localhost"'  # an alias replaces prefix and field name


# -- the documented SQL -------------------------------------------------------------------------------------------


def doc_queries() -> dict[str, str]:
    """The ```sql blocks of docs/tables/security.md, by their ``-- name:`` line."""
    text = DOC.read_text(encoding="utf-8")
    out = {}
    for block in re.findall(r"```sql\n(.*?)```", text, re.S):
        m = re.match(r"-- name: (\w+)\n", block)
        assert m, f"a documented query lacks its '-- name:' line:\n{block}"
        out[m.group(1)] = block
    return out


@pytest.fixture(scope="session")
def shop_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    shutil.copytree(SHOP, root / "shop", dirs_exist_ok=True)
    store = root / "store"
    extract(make_plan([root / "shop"], store=store, workers=1, plugins=PLUGINS, select=SELECT))
    return store


def query(store: Path, name: str) -> list[dict[str, Any]]:
    return sql(open_store(store), doc_queries()[name]).to_pylist()


def test_doc_fstring_sql_reaching_execute(shop_store: Path) -> None:
    got = query(shop_store, "fstring_sql_reaching_execute")
    assert [(r["path"], r["line"], r["scope"], r["interpolated"]) for r in got] == [
        ("shop/db.py", 23, "search", ["term", "order"]),
        ("shop/db.py", 48, "report", ["year"]),
    ]


def test_doc_interpolated_sql_anywhere(shop_store: Path) -> None:
    got = query(shop_store, "interpolated_sql_anywhere")
    assert [(r["path"], r["line"], r["sink"], r["build"]) for r in got] == [
        ("shop/db.py", 23, "execute", "concat"),
        ("shop/db.py", 27, "execute", "percent"),
        ("shop/db.py", 31, "execute", "format"),
        ("shop/db.py", 48, "execute", "fstring"),
        ("shop/views.py", 29, "raw", "fstring"),
        ("shop/views.py", 30, "extra", "percent"),
    ]


def test_doc_env_without_default(shop_store: Path) -> None:
    got = query(shop_store, "env_without_default")
    assert [(r["name"], r["reads"], r["first_path"]) for r in got] == [
        ("DATABASE_URL", 1, "shop/settings/base.py"),
        ("DJANGO_SECRET_KEY", 2, "shop/settings/base.py"),
        ("JWT_KEY", 1, "shop/api.py"),
        ("REDIS_URL", 1, "shop/settings/base.py"),
        ("SENTRY_DSN", 1, "shop/settings/base.py"),
        ("SHOP_DATABASE_URL", 1, "shop/config.py"),
        ("STRIPE_KEY", 1, "shop/config.py"),
    ]


def test_doc_env_required(shop_store: Path) -> None:
    got = {(r["name"], r["api"]) for r in query(shop_store, "env_required")}
    assert ("SENTRY_DSN", "os.getenv") not in {(n, a) for n, a in got}  # getenv returns None
    assert {
        ("REDIS_URL", "os.environ[]"),
        ("DJANGO_SECRET_KEY", "environ.Env"),
        ("DJANGO_SECRET_KEY", "os.environ[]"),
        ("STRIPE_KEY", "decouple.config"),
    } <= got


def test_every_documented_query_runs(shop_store: Path) -> None:
    for name in doc_queries():
        query(shop_store, name)


# -- real code: Django's source -----------------------------------------------------------------------------------


def django_root() -> Path:
    spec = importlib.util.find_spec("django")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("django is not installed (pip install -e '.[test]')")
    return Path(spec.submodule_search_locations[0])


@pytest.fixture(scope="module")
def django_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = django_root()
    store = tmp_path_factory.mktemp("django") / "store"
    folders = [root / "db" / "backends" / "sqlite3", root / "core" / "management"]
    extract(make_plan(folders, store=store, workers=2, plugins=PLUGINS, select=SELECT))
    return store


def test_django_sqlite_backend_builds_sql_by_interpolation(django_store: Path) -> None:
    st = open_store(django_store)
    pragma = sql(
        st,
        """SELECT path, build, interpolated FROM sql_strings
                        WHERE repo = 'sqlite3' AND path = 'introspection.py'
                          AND sql LIKE 'PRAGMA table_info(%'""",
    ).to_pylist()
    assert pragma and pragma[0]["build"] == "percent"
    assert pragma[0]["interpolated"][0].startswith("self.connection.ops.quote_name(")
    begin = sql(
        st,
        "SELECT build, sql FROM sql_strings WHERE repo = 'sqlite3' AND path = 'base.py' AND sql LIKE 'BEGIN %'",
    ).to_pylist()
    assert begin == [{"build": "fstring", "sql": "BEGIN {self.transaction_mode}"}]
    counts = {
        r["build"]: r["n"]
        for r in sql(
            st,
            """SELECT build, count(*) AS n FROM sql_strings
                                                     WHERE repo = 'sqlite3' AND sink = 'execute'
                                                     GROUP BY build""",
        ).to_pylist()
    }
    assert counts.get("percent", 0) >= 5 and counts.get("literal", 0) >= 5
    # the cursor wrappers pass their `query` parameter on: non-literal SQL, untraceable here
    assert (
        sql(
            st,
            "SELECT count(*) AS n FROM sql_strings WHERE repo = 'sqlite3' AND path = 'base.py' AND build = 'parameter'",
        )
        .column("n")[0]
        .as_py()
        >= 1
    )


def test_django_management_reads_its_settings_variable(django_store: Path) -> None:
    st = open_store(django_store)
    got = sql(
        st,
        """SELECT path, api, has_default FROM env_reads
                     WHERE repo = 'management' AND name = 'DJANGO_SETTINGS_MODULE' ORDER BY path""",
    ).to_pylist()
    assert {"path": "__init__.py", "api": "os.environ.get", "has_default": False} in got
    # bash completion reads its words with os.environ[...]: a KeyError outside completion
    comp = sql(
        st,
        """SELECT name, api, raises_if_unset FROM env_reads
                      WHERE repo = 'management' AND name LIKE 'COMP_%' ORDER BY name""",
    ).to_pylist()
    assert comp == [
        {"name": "COMP_CWORD", "api": "os.environ[]", "raises_if_unset": True},
        {"name": "COMP_WORDS", "api": "os.environ[]", "raises_if_unset": True},
    ]
