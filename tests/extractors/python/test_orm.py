"""ORM models and fields: golden fixture apps, cross-file facts, incremental runs, real code.

The fixture apps under ``tests/fixtures/models/<case>/`` are extracted once, together (one repo per
case), with the models, tasks and tests extractors; ``<case>.expected.json`` holds each case's
expected rows (``repo`` and ``sha256`` left out). After an intended change, regenerate with
``pytest tests/extractors/python/test_orm.py tests/extractors/python/test_validation.py
tests/extractors/python/test_tasks_tests.py --update-golden`` and
review the diff: the golden files are the truth, not what the code printed.
"""

from __future__ import annotations

import atexit
import importlib.util
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.testing import assert_golden
from tests import paths

PLUGINS = [
    "codequarry.extractors.python.models.classes",
    "codequarry.extractors.python.models.operations",
    "codequarry.extractors.python.tasks.definitions",
    "codequarry.extractors.python.tasks.testsuite",
    "codequarry.extractors.python.tasks.testcases",
]
FIXTURES = paths.FIXTURES / "models"
DOC = paths.ROOT / "docs" / "tables" / "models.md"
#: the tables whose rows each case's golden file holds
GOLDEN = {
    "django": ("orm_models", "orm_fields"),
    "sqlalchemy": ("orm_models", "orm_fields"),
    "flask": ("orm_models", "orm_fields"),
    "sqlmodel": ("orm_models", "orm_fields", "validation_models", "validation_fields"),
    "validation": ("validation_models", "validation_fields", "validation_validators"),
    "tasks": ("tasks",),
    "testsuite": ("tests",),
}


def _tempdir() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="cq-models-"))
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


@cache
def fixture_store() -> Path:
    """One extract of every fixture app (shared by the three test modules of this domain)."""
    store = _tempdir() / "store"
    extract(make_plan([FIXTURES / case for case in GOLDEN], store=store, workers=1, plugins=PLUGINS))
    return store


@cache
def query(text: str) -> list[dict[str, Any]]:
    return sql(open_store(fixture_store()), text).to_pylist()


def rows(table: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in query(f"SELECT * FROM {table}") if all(r[k] == v for k, v in match.items())]


def one(table: str, **match: Any) -> dict[str, Any]:
    found = rows(table, **match)
    assert len(found) == 1, f"{len(found)} {table} rows match {match}: {found}"
    return found[0]


def golden_check(case: str) -> None:
    """Compare (or with --update-golden rewrite) ``<case>.expected.json``."""
    assert not query("SELECT path, extractor, message FROM errors"), query("SELECT * FROM errors")
    got = {table: rows(table, repo=case) for table in GOLDEN[case]}
    assert all(len(r["sha256"]) == 64 for found in got.values() for r in found)
    assert_golden(got, FIXTURES / f"{case}.expected.json")


def doc_sql(title: str) -> str:
    """The SQL block of docs/tables/models.md whose first line is ``-- <title>``."""
    for block in re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S):
        if block.startswith(f"-- {title}\n"):
            return block
    raise AssertionError(f"no SQL block '-- {title}' in {DOC}")


# -- golden files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["django", "sqlalchemy", "flask", "sqlmodel"])
def test_golden(case: str) -> None:
    golden_check(case)


# -- Django ------------------------------------------------------------------------------------------


def test_django_abstract_base_in_another_module_makes_a_model_and_gives_its_fields() -> None:
    article = one("orm_models", fqn="blog.models.Article")
    assert (article["framework"], article["is_abstract"], article["table_name"]) == (
        "django",
        False,
        "blog_posts",
    )
    assert article["table_name_source"] == "explicit"
    fields = {f["name"]: f for f in rows("orm_fields", model="blog.models.Article")}
    # own fields, then Owned's (core/models.py), then TimeStamped's (re-exported by core/__init__.py)
    assert set(fields) == {"title", "body", "tags", "author", "parent", "owner", "created", "updated"}
    assert (fields["owner"]["declared_in"], fields["owner"]["inherited"]) == ("core.models.Owned", True)
    assert fields["created"]["declared_in"] == "core.models.TimeStamped"
    assert fields["owner"]["path"] == "core/models.py"  # a field's provenance is where it is declared
    assert "objects" not in fields  # a manager is no field
    assert fields["parent"]["foreign_key_target"] == "blog.models.Article"  # "self"
    assert fields["tags"]["relationship_target"] == "core.models.Tag"
    assert (fields["tags"]["kind"], fields["tags"]["column_name"]) == ("many_to_many", None)
    assert (fields["author"]["kind"], fields["author"]["column_name"]) == ("foreign_key", "author_id")
    # "auth.User" when django.contrib is not part of the corpus
    assert fields["owner"]["foreign_key_target"] == "django.contrib.auth.models.User"


def test_django_field_overrides_and_flags() -> None:
    updated = one("orm_fields", model="blog.models.Comment", name="updated")
    assert (updated["declared_in"], updated["nullable"]) == (
        "blog.models.Comment",
        True,
    )  # overrides the base's
    assert {f["name"] for f in rows("orm_fields", model="blog.models.Comment")} == {
        "article",
        "text",
        "updated",
        "created",
    }
    for fqn in ("core.models.TimeStamped", "core.models.Owned"):
        m = one("orm_models", fqn=fqn)
        assert m["is_abstract"] and m["table_name"] is None and m["primary_key"] == []
    tag = one("orm_models", fqn="core.models.Tag")
    assert (tag["has_explicit_pk"], tag["primary_key"]) == (True, ["slug"])
    assert one("orm_fields", model="core.models.Tag", name="slug")["unique"]


def test_django_proxy_multi_table_and_implicit_keys() -> None:
    proxy = one("orm_models", fqn="blog.models.PublishedArticle")
    assert (proxy["is_proxy"], proxy["inheritance"], proxy["table_name"]) == (True, "proxy", "blog_posts")
    assert proxy["n_fields"] == 0 and proxy["parent_models"] == ["blog.models.Article"]
    featured = one("orm_models", fqn="blog.models.Featured")
    assert (featured["inheritance"], featured["primary_key"], featured["has_explicit_pk"]) == (
        "multi_table",
        ["article_ptr"],
        False,
    )
    assert [f["name"] for f in rows("orm_fields", model="blog.models.Featured")] == ["rank"]
    article = one("orm_models", fqn="blog.models.Article")
    assert (article["primary_key"], article["has_explicit_pk"]) == (["id"], False)


def test_django_table_names_app_labels_and_dynamic_models() -> None:
    assert (
        one("orm_models", fqn="shop.models.product.Product")["table_name"] == "shop_product"
    )  # models/ package
    assert (
        one("orm_models", fqn="accounts.models.Profile")["table_name"] == "people_profile"
    )  # Meta.app_label
    assert one("orm_fields", model="shop.models.product.Product", name="sku")["column_name"] == "SKU"
    assert one("orm_models", name="DebugNote")["table_name"] == "blog_debugnote"  # under `if settings.DEBUG`
    assert one("orm_models", name="Dynamic")["qualname"] == "make_model.<locals>.Dynamic"
    member = one("orm_models", fqn="accounts.models.Member")  # AbstractUser from outside the corpus
    assert (member["framework"], member["is_abstract"]) == ("django", False)
    profile_user = one("orm_fields", model="accounts.models.Profile", name="user")
    assert (profile_user["kind"], profile_user["unique"], profile_user["foreign_key_target"]) == (
        "one_to_one",
        True,
        "accounts.models.Member",
    )  # "accounts.Member": the app label of accounts/models.py
    assert not rows("orm_models", name="NotAModel")
    assert not rows("orm_models", name="ArticleManager")


# -- SQLAlchemy, Flask-SQLAlchemy, SQLModel -------------------------------------------------------------


def test_sqlalchemy_declarative_styles() -> None:
    assert not rows("orm_models", fqn="app.db.Base")  # the declarative base itself is no model
    user = one("orm_models", fqn="app.models.User")
    assert (user["framework"], user["table_name"], user["primary_key"]) == ("sqlalchemy", "users", ["id"])
    fields = {f["name"]: f for f in rows("orm_fields", model="app.models.User")}
    assert (fields["nickname"]["nullable"], fields["nickname"]["type"]) == (
        True,
        "str",
    )  # Mapped[Optional[str]]
    assert (fields["name"]["nullable"], fields["name"]["type"]) == (False, "String(50)")
    assert fields["email"]["unique"] and fields["email"]["nullable"]
    assert (fields["addresses"]["kind"], fields["addresses"]["relationship_target"]) == (
        "relationship",
        "app.models.Address",
    )
    assert fields["created_at"]["declared_in"] == "app.mixins.TimestampMixin"  # a mixin without bases
    assert fields["created_at"]["nullable"] is False and fields["created_at"]["has_default"]
    order = {f["name"]: f for f in rows("orm_fields", model="app.classic.Order")}
    assert order["customer"]["column_name"] == "customer_name" and order["customer"]["nullable"] is False
    assert order["note"]["nullable"] is True  # Column's default
    assert order["items"]["relationship_target"] == "app.classic.Item"  # "Item", looked up by class name
    item_fk = one("orm_fields", model="app.classic.Item", name="order_id")
    assert (item_fk["kind"], item_fk["foreign_key_target"], item_fk["type"]) == (
        "foreign_key",
        "orders.id",
        "Integer",
    )
    assert one("orm_models", fqn="app.classic.Note")["framework"] == "sqlalchemy"  # @mapper_registry.mapped
    assert not rows("orm_models", name="NotMapped")


def test_sqlalchemy_keys_inheritance_and_table_names() -> None:
    composite = one("orm_models", fqn="app.models.Composite")
    assert (composite["has_explicit_pk"], composite["primary_key"]) == (
        True,
        ["a", "b"],
    )  # PrimaryKeyConstraint
    nokey = one("orm_models", fqn="app.models.NoKey")
    assert (nokey["has_explicit_pk"], nokey["primary_key"]) == (False, [])
    thing = one("orm_models", fqn="app.models.Thing")
    assert thing["primary_key"] == ["id"]
    assert one("orm_fields", model="app.models.Thing", name="id")["declared_in"] == "app.models.AbstractThing"
    assert one("orm_models", fqn="app.models.AbstractThing")["is_abstract"]
    manager = one("orm_models", fqn="app.models.Manager")
    assert (manager["inheritance"], manager["table_name"], manager["table_name_source"]) == (
        "single",
        "employee",
        "inherited",
    )
    assert (manager["has_explicit_pk"], manager["primary_key"]) == (True, ["id"])
    engineer = one("orm_models", fqn="app.models.Engineer")
    assert (engineer["inheritance"], engineer["table_name"]) == ("joined", "engineer")
    named = one("orm_models", fqn="app.models.Named")
    assert (named["table_name"], named["table_name_source"]) == (None, "declared_attr")
    reflected = one("orm_models", fqn="app.classic.Reflected")  # __table__ = Table(...)
    assert (reflected["table_name"], reflected["primary_key"]) == ("reflected", ["rid"])


def test_table_objects() -> None:
    assoc = one("orm_models", fqn="app.models.user_group")
    assert (assoc["kind"], assoc["table_name"], assoc["primary_key"]) == (
        "table",
        "user_group",
        ["user_id", "group_id"],
    )
    log = one("orm_models", fqn="app.classic.log")
    assert (log["has_explicit_pk"], log["n_fields"]) == (False, 2)
    cols = {f["name"]: f for f in rows("orm_fields", model="app.models.user_group")}
    assert cols["user_id"]["type"] is None and cols["user_id"]["foreign_key_target"] == "users.id"
    assert cols["group_id"]["type"] == "Integer"


def test_flask_sqlalchemy_db_model_through_a_reexport_and_an_alias() -> None:
    role = one("orm_models", fqn="flaskapp.models.UserRole")
    assert (role["framework"], role["table_name"], role["table_name_source"]) == (
        "flask_sqlalchemy",
        "user_role",
        "derived",
    )
    person = one("orm_models", fqn="flaskapp.models.Person")  # class Person(Model), Model = db.Model
    assert (person["framework"], person["table_name"]) == ("flask_sqlalchemy", "people")
    assert (
        one("orm_fields", model="flaskapp.models.UserRole", name="people")["relationship_target"]
        == "flaskapp.models.Person"
    )
    assert one("orm_models", fqn="flaskapp.models.person_tag")["framework"] == "flask_sqlalchemy"


def test_sqlmodel_tables_and_their_bases() -> None:
    assert [m["fqn"] for m in rows("orm_models", repo="sqlmodel")] == ["heroes.Team", "heroes.Hero"]
    team = {f["name"]: f for f in rows("orm_fields", model="heroes.Team")}
    assert team["name"]["declared_in"] == "heroes.TeamBase"  # a non-table base gives its fields
    assert team["heroes"]["relationship_target"] == "heroes.Hero"
    hero = {f["name"]: f for f in rows("orm_fields", model="heroes.Hero")}
    assert (hero["id"]["primary_key"], hero["id"]["nullable"]) == (True, False)
    assert (hero["age"]["nullable"], hero["name"]["nullable"]) == (True, False)
    assert (hero["team_id"]["kind"], hero["team_id"]["foreign_key_target"]) == ("foreign_key", "team.id")
    assert one("orm_models", fqn="heroes.Hero")["table_name"] == "hero"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("UserRole", "user_role"),
        ("HTTPLog", "http_log"),
        ("ABC", "abc"),
        ("Person2Address", "person2_address"),
    ],
)
def test_flask_sqlalchemy_table_name_derivation(name: str, expected: str) -> None:
    from codequarry.extractors.python.models.orm import snake_case

    assert snake_case(name) == expected


# -- the documented SQL --------------------------------------------------------------------------------


def test_documented_query_models_without_a_primary_key() -> None:
    got = [(r["framework"], r["fqn"]) for r in query(doc_sql("models without a primary key"))]
    assert sorted(got) == [
        ("flask_sqlalchemy", "flaskapp.models.person_tag"),
        ("sqlalchemy", "app.classic.log"),
        ("sqlalchemy", "app.models.NoKey"),
    ]


def test_documented_query_django_models_on_the_implicit_id() -> None:
    got = {r["fqn"] for r in query(doc_sql("Django models on the implicit id"))}
    assert "blog.models.Article" in got and "core.models.Tag" not in got
    assert not any(fqn.startswith("core.models.Time") for fqn in got)  # abstract


def test_documented_query_foreign_keys_into_a_model() -> None:
    got = {(r["model"], r["name"]) for r in query(doc_sql("foreign keys into a model"))}
    assert got == {("blog.models.Comment", "article"), ("blog.models.Article", "parent")}


# -- incremental runs -------------------------------------------------------------------------------


def test_editing_an_abstract_base_updates_models_in_other_files(tmp_path: Path) -> None:
    from tests.test_incremental import dump, touch_later

    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "django", src)
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1, plugins=PLUGINS)
    extract(plan)
    base = src / "core" / "models.py"
    base.write_text(
        base.read_text().replace(
            "    updated = models.DateTimeField(auto_now=True)\n",
            "    updated = models.DateTimeField(auto_now=True)\n"
            "    revision = models.IntegerField(default=0)\n",
        )
    )
    touch_later(base)
    summary = extract(plan)
    assert summary.operations["python.models.resolve"]["ran"]
    st = open_store(store)
    names = {
        r["name"]
        for r in sql(st, "SELECT name FROM orm_fields WHERE model = 'blog.models.Article'").to_pylist()
    }
    assert "revision" in names  # blog/models.py did not change, its model's fields did
    fresh = tmp_path / "fresh"
    extract(make_plan([src], store=fresh, workers=1, plugins=PLUGINS))
    assert dump(store) == dump(fresh)
    # the base's module disappears: Article is no model any more, in a file that did not change
    base.unlink()
    (src / "core" / "__init__.py").write_text("")
    touch_later(src / "core" / "__init__.py")
    extract(plan)
    st = open_store(store)
    assert not sql(st, "SELECT fqn FROM orm_models WHERE fqn = 'blog.models.Article'").to_pylist()
    assert sql(st, "SELECT fqn FROM orm_models WHERE fqn = 'shop.models.product.Product'").to_pylist()
    again = tmp_path / "again"
    extract(make_plan([src], store=again, workers=1, plugins=PLUGINS))
    assert dump(store) == dump(again)


def _tree_rows(files: dict[str, str], tmp_path: Path, query: str) -> list[tuple[Any, ...]]:
    """Write ``files`` as a tree, extract it into a store of its own and answer ``query`` there, each
    row a tuple."""
    from codequarry.testing import write_tree

    root = write_tree(tmp_path / "src", files)
    store = tmp_path / "store"
    extract(make_plan([root], store=store, workers=1, plugins=PLUGINS))
    return [tuple(r.values()) for r in sql(open_store(store), query).to_pylist()]


def test_sqlalchemy_declared_attr_columns_of_a_mixin(tmp_path: Path) -> None:
    got = _tree_rows(
        {
            "depot/__init__.py": "",
            "depot/base.py": (
                "from sqlalchemy import Column, ForeignKey, Integer\n"
                "from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship\n"
                "class Base(DeclarativeBase):\n    pass\n"
                "class WarehouseMixin:\n"
                "    @declared_attr\n    def warehouse_id(cls):\n"
                "        return Column(Integer, ForeignKey('warehouse.id', ondelete='CASCADE'))\n"
                "    @declared_attr\n    def warehouse(cls):\n        return relationship('Warehouse')\n"
                "    @declared_attr\n    def shelf(cls) -> Mapped[int]:\n        return mapped_column(nullable=True)\n"
                "    @declared_attr.directive\n    def __tablename__(cls):\n        return cls.__name__.lower()\n"
                "    @declared_attr\n    def label(cls):\n        return cls.__name__\n"  # no column
            ),
            "depot/models.py": (
                "from sqlalchemy import Column, Integer\nfrom depot.base import Base, WarehouseMixin\n"
                "class Warehouse(Base):\n    __tablename__ = 'warehouse'\n    id = Column(Integer, primary_key=True)\n"
                "class Crate(Base, WarehouseMixin):\n    id = Column(Integer, primary_key=True)\n"
            ),
        },
        tmp_path,
        "SELECT name, kind, foreign_key_target, relationship_target, nullable, inherited FROM orm_fields"
        " WHERE model = 'depot.models.Crate' ORDER BY name",
    )
    assert got == [
        ("id", "field", None, None, False, False),
        ("shelf", "field", None, None, True, True),
        ("warehouse", "relationship", None, "depot.models.Warehouse", None, True),
        ("warehouse_id", "foreign_key", "warehouse.id", None, True, True),
    ]


def test_known_concrete_bases_outside_the_corpus_make_multi_table_children(tmp_path: Path) -> None:
    got = _tree_rows(
        {
            "bakery/__init__.py": "",
            "bakery/models.py": (
                "from django.db import models\nfrom django.contrib.auth.models import User\n"
                "from wagtail.models import Page, Orderable\nfrom modelcluster.models import ClusterableModel\n"
                "class Listed(models.Model):\n    class Meta:\n        abstract = True\n"
                "class LoafPage(Page):\n    crust = models.CharField(max_length=20)\n"
                "class Baker(User):\n    oven = models.IntegerField()\n"
                "class Tray(Orderable):\n    size = models.IntegerField()\n"
                "class Shop(ClusterableModel, Listed):\n    name = models.CharField(max_length=50)\n"
            ),
        },
        tmp_path,
        "SELECT name, inheritance, parent_models, primary_key, table_name FROM orm_models"
        " WHERE NOT is_abstract ORDER BY name",
    )
    assert got == [
        ("Baker", "multi_table", ["django.contrib.auth.models.User"], ["user_ptr"], "bakery_baker"),
        ("LoafPage", "multi_table", ["wagtail.models.Page"], ["page_ptr"], "bakery_loafpage"),
        ("Shop", None, [], ["id"], "bakery_shop"),
        ("Tray", None, [], ["id"], "bakery_tray"),
    ]


def test_removing_a_test_base_class_in_another_file_drops_its_subclasses_tests(tmp_path: Path) -> None:
    from tests.test_incremental import dump, touch_later

    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "testsuite", src)
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1, plugins=PLUGINS)
    extract(plan)
    listing = "SELECT framework FROM tests WHERE name = 'test_list'"
    assert sql(open_store(store), listing).to_pylist() == [{"framework": "unittest"}]
    testing = src / "app" / "testing.py"
    testing.write_text("class AppCase:\n    pass\n")  # no longer a TestCase
    touch_later(testing)
    extract(plan)
    assert sql(open_store(store), listing).to_pylist() == []
    fresh = tmp_path / "fresh"
    extract(make_plan([src], store=fresh, workers=1, plugins=PLUGINS))
    assert dump(store) == dump(fresh)


# -- real code ---------------------------------------------------------------------------------------


def _installed(package: str, *sub: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed (pip install -e '.[test]')")
    return Path(spec.submodule_search_locations[0]).joinpath(*sub)


@cache
def real_store() -> Path:
    """Django's auth app, SQLAlchemy's MSSQL dialect and parts of Celery, extracted together."""
    sources = [
        _installed("django", "contrib", "auth"),
        _installed("sqlalchemy", "dialects", "mssql"),
        _installed("celery", "app"),
        _installed("celery", "backends", "database"),
        _installed("celery", "contrib", "testing"),
    ]
    store = _tempdir() / "real"
    extract(make_plan(sources, store=store, workers=2, plugins=PLUGINS))
    return store


def real(text: str) -> list[dict[str, Any]]:
    return sql(open_store(real_store()), text).to_pylist()


def test_django_auth_models() -> None:
    models = {r["fqn"]: r for r in real("SELECT * FROM orm_models WHERE framework = 'django'")}
    for name in ("User", "Group", "Permission"):
        m = models[f"django.contrib.auth.models.{name}"]
        assert not m["is_abstract"] and m["table_name"] == f"auth_{name.lower()}"
    assert models["django.contrib.auth.models.AbstractUser"]["is_abstract"]
    assert models["django.contrib.auth.models.PermissionsMixin"]["is_abstract"]
    assert models["django.contrib.auth.base_user.AbstractBaseUser"]["is_abstract"]  # another file
    fields = {(r["model"].rsplit(".", 1)[-1], r["name"]): r for r in real("SELECT * FROM orm_fields")}
    assert fields[("Permission", "codename")]["type"] == "CharField"
    assert (
        fields[("Permission", "content_type")]["foreign_key_target"]
        == "django.contrib.contenttypes.models.ContentType"
    )
    perms = fields[("Group", "permissions")]
    assert (perms["kind"], perms["relationship_target"]) == (
        "many_to_many",
        "django.contrib.auth.models.Permission",
    )
    # User inherits through AbstractUser from AbstractBaseUser (base_user.py) and PermissionsMixin
    password = fields[("User", "password")]
    assert (password["declared_in"], password["path"]) == (
        "django.contrib.auth.base_user.AbstractBaseUser",
        "base_user.py",
    )
    assert fields[("User", "groups")]["declared_in"] == "django.contrib.auth.models.PermissionsMixin"
    assert fields[("User", "username")]["unique"]
    assert models["django.contrib.auth.models.User"]["primary_key"] == ["id"]


def test_sqlalchemy_table_objects_of_the_mssql_dialect() -> None:
    tables = {r["name"]: r for r in real("SELECT * FROM orm_models WHERE kind = 'table'")}
    assert {"schemata", "tables", "columns", "views", "sequences"} <= set(tables)
    assert (tables["schemata"]["table_name"], tables["schemata"]["has_explicit_pk"]) == ("SCHEMATA", False)
    cols = real(
        "SELECT name, column_name, type FROM orm_fields WHERE model LIKE '%information_schema.schemata'"
    )
    assert {"name": "catalog_name", "column_name": "CATALOG_NAME", "type": "CoerceUnicode"} in cols


def test_celery_result_models() -> None:
    models = {r["name"]: r for r in real("SELECT * FROM orm_models WHERE module LIKE 'celery.%'")}
    # ResultModelBase = declarative_base() in session.py, under try/except ImportError
    assert (models["Task"]["table_name"], models["TaskSet"]["table_name"]) == (
        "celery_taskmeta",
        "celery_tasksetmeta",
    )
    assert models["TaskExtended"]["parent_models"] == ["celery.backends.database.models.Task"]
    assert all(m["has_explicit_pk"] for m in models.values())
    task_id = real("SELECT * FROM orm_fields WHERE model LIKE '%models.Task' AND name = 'task_id'")
    assert task_id and task_id[0]["unique"] and task_id[0]["type"] == "sa.String(155)"
