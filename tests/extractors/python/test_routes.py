"""Web routes (``python.web.route_facts`` + ``python.web.routes``): fixture apps with golden rows,
facts stated per framework, the documented SQL, Django's and FastAPI's own sources, incremental runs.

Golden files: ``tests/fixtures/routes/<app>/`` is a small application, ``<app>.expected.json`` the
rows of ``routes`` it must give (provenance ``repo`` and ``sha256`` left out). After an intended
change, regenerate with ``pytest tests/extractors/python/test_routes.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.extractors.python.web.operation import auth_markers
from codequarry.extractors.python.web.paths import join_path
from codequarry.testing import assert_golden, extract_rows, write_tree
from tests import paths
from tests.test_incremental import touch_later

FIXTURES = paths.FIXTURES / "routes"
APPS = ("flask_app", "fastapi_app", "django_project", "starlette_app", "aiohttp_app")
PLUGINS = ["codequarry.extractors.python.web.routes", "codequarry.extractors.python.web.operation"]
DOC = paths.ROOT / "docs" / "tables" / "routes.md"
SORT = ("path", "line", "col", "full_path")


def routes_table(store: Path, repo: str | None = None) -> list[dict[str, Any]]:
    where = f" WHERE repo = '{repo}'" if repo else ""
    rows = sql(open_store(store), f"SELECT * FROM routes{where}").to_pylist()
    return sorted(rows, key=lambda r: (*(r[k] if r[k] is not None else "" for k in SORT), r["chain"]))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store holding the five fixture apps, each its own source (repo = folder name)."""
    path = tmp_path_factory.mktemp("routes") / "store"
    summary = extract(make_plan([FIXTURES / app for app in APPS], store=path, workers=2, plugins=PLUGINS))
    assert summary.operations["python.web.routes"]["ran"]
    return path


@pytest.fixture(scope="module")
def tables(store: Path) -> dict[str, list[dict[str, Any]]]:
    return {app: routes_table(store, app) for app in APPS}


def find(rows: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def one(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = find(rows, **match)
    assert len(found) == 1, f"{len(found)} rows match {match}: {found}"
    return found[0]


# -- golden files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", APPS)
def test_golden(app: str, tables: dict[str, list[dict[str, Any]]], store: Path) -> None:
    assert sql(open_store(store), f"SELECT count(*) AS n FROM errors WHERE repo = '{app}'").to_pylist() == [
        {"n": 0}
    ]
    rows = tables[app]
    assert rows and all(len(r["sha256"]) == 64 for r in rows)
    assert_golden(rows, FIXTURES / f"{app}.expected.json", sort=False)  # routes_table's order


# -- Flask -------------------------------------------------------------------------------------------


def test_flask_prefixes_at_blueprint_and_at_registration(tables: dict[str, list[dict[str, Any]]]) -> None:
    rows = tables["flask_app"]
    # Blueprint(url_prefix="/users") alone
    assert one(rows, handler="shop.blueprints.users.show_user")["full_path"] == "/users/<int:user_id>"
    assert one(rows, handler="shop.blueprints.users.list_users")["full_path"] == "/users/"
    # register_blueprint(url_prefix="/console") replaces Blueprint(url_prefix="/admin"), through a re-export
    dash = one(rows, handler="shop.blueprints.admin.dashboard")
    assert (dash["full_path"], dash["name"], dash["methods"]) == (
        "/console/dashboard",
        "admin.dashboard",
        ["GET", "POST"],
    )
    assert (
        dash["chain"] == ["shop.blueprints.admin.admin_bp", "shop.app.app"] and dash["root"] == "shop.app.app"
    )
    # one blueprint registered twice, with a nested blueprint: every way up is a row
    items = find(rows, handler="shop.api.get_item")
    assert sorted((r["full_path"], r["name"]) for r in items) == [
        ("/api/v1/items/<int:item_id>", "api.items.get_item"),
        ("/api/v2/items/<int:item_id>", "api_v2.items.get_item"),
    ]
    assert all(r["chain"] == ["shop.api.items", "shop.api.api", "shop.app.app"] for r in items)


def test_flask_views_methods_and_flags(tables: dict[str, list[dict[str, Any]]]) -> None:
    rows = tables["flask_app"]
    api = one(
        rows, handler="shop.blueprints.users.UserAPI"
    )  # add_url_rule(view_func=UserAPI.as_view("user_api"))
    assert (api["methods"], api["name"], api["full_path"]) == (
        ["GET", "POST"],
        "users.user_api",
        "/users/api/<int:user_id>",
    )
    assert one(rows, handler="shop.app.index")["methods"] == ["GET"]  # Flask's default
    debug = one(rows, handler="shop.app.debug_routes")
    assert debug["is_conditional"] and not debug["is_dynamic"]
    loop = one(rows, handler="shop.app.static_page")  # add_url_rule(f"/{page}") in a for loop
    assert (
        loop["is_dynamic"]
        and loop["route"] is None
        and loop["full_path"] is None
        and loop["route_source"] == 'f"/{page}"'
    )
    orphan = one(rows, handler="shop.extras.x")  # never registered
    assert (orphan["root"], orphan["full_path"], orphan["chain"]) == (
        None,
        "/orphan/x",
        ["shop.extras.orphan"],
    )
    plugin = one(rows, handler="shop.extras.register.<locals>.plugin")  # @app.route on a parameter
    assert (plugin["root"], plugin["chain"], plugin["methods"], plugin["is_dynamic"]) == (
        None,
        [],
        ["POST", "PUT"],
        True,
    )
    assert one(rows, handler="shop.blueprints.admin.delete_user")["auth"] == ['roles_required("admin")']


# -- FastAPI -----------------------------------------------------------------------------------------


def test_fastapi_prefixes_and_dependencies_across_files(tables: dict[str, list[dict[str, Any]]]) -> None:
    rows = tables["fastapi_app"]
    read = one(rows, handler="api.routers.items.read_item")
    assert (
        read["full_path"] == "/v1/items/{item_id}"
    )  # include_router(prefix="/v1") + APIRouter(prefix="/items")
    # app, router, then the handler's Security(...) inside Annotated
    assert read["dependencies"] == ["add_request_id", "get_token_header", "get_current_user"]
    created = one(
        rows, handler="api.routers.items.create_item"
    )  # router.add_api_route("/", ..., methods=["POST"])
    assert (created["full_path"], created["methods"]) == ("/v1/items/", ["POST"])
    cache = one(rows, handler="api.routers.admin.clear_cache")
    assert (cache["full_path"], cache["methods"]) == ("/admin/cache", ["DELETE"])
    assert cache["dependencies"] == ["add_request_id", "require_admin"] and cache["auth"] == ["require_admin"]
    me = one(rows, handler="api.routers.users.me")  # `user: CurrentUser`, an alias defined in api/deps.py
    assert (me["name"], me["auth"]) == ("who-am-i", ["get_current_user"])
    assert one(rows, handler="api.routers.users.list_users")["auth"] == []  # Depends(get_db) is no auth
    assert one(rows, handler="api.routers.users.avatar")["methods"] == ["GET", "HEAD"]
    ws = one(rows, kind="websocket")
    assert (ws["full_path"], ws["methods"], ws["handler"]) == ("/ws", [], "api.main.ws")
    static = one(rows, kind="include")  # app.mount("/static", StaticFiles(...))
    assert (static["full_path"], static["view_source"], static["handler"]) == (
        "/static",
        'StaticFiles(directory="static")',
        None,
    )


# -- Django ------------------------------------------------------------------------------------------


def test_django_includes_namespaces_and_views(tables: dict[str, list[dict[str, Any]]]) -> None:
    rows = tables["django_project"]
    detail = one(rows, name="blog:detail")  # include("blog.urls") + app_name = "blog"
    assert (detail["full_path"], detail["handler"], detail["handler_path"]) == (
        "blog/<int:pk>/",
        "blog.views.PostDetailView",
        "blog/views.py",
    )
    assert detail["methods"] == ["GET"] and detail["chain"] == [
        "blog.urls.urlpatterns",
        "mysite.urls.urlpatterns",
    ]
    profile = one(rows, name="profile")  # include(accounts_urls), a module imported under another name
    assert (profile["full_path"], profile["permissions"], profile["auth"]) == (
        "accounts/profile/",
        ["IsAuthenticated"],
        ["IsAuthenticated"],
    )
    ping = one(rows, name="ping")  # urlpatterns.append(path(...))
    assert ping["full_path"] == "accounts/ping/" and ping["methods"] == ["GET"]  # @api_view() defaults to GET
    sessions = one(rows, name="sessions")
    assert (sessions["methods"], sessions["permissions"], sessions["auth"]) == (
        ["GET", "DELETE"],
        ["IsAdminUser"],
        ["IsAdminUser"],
    )
    viewset = one(rows, kind="viewset")  # include(router.urls) of a DRF DefaultRouter
    assert (viewset["full_path"], viewset["name"], viewset["methods"], viewset["auth"]) == (
        "api/users/",
        "user",
        ["GET"],
        [],
    )  # AllowAny is no auth
    faq = one(rows, name="faq")  # include([...]) inline
    assert faq["full_path"] == "help/faq/"
    contact = one(rows, name="contact")  # path("contact/", login_required(blog_views.contact))
    assert (contact["decorators"], contact["handler"], contact["auth"]) == (
        ["login_required"],
        "blog.views.contact",
        ["login_required"],
    )
    archive = one(rows, name="archive")
    assert archive["is_regex"] and archive["full_path"] == "^archive/(?P<year>[0-9]{4})/$"
    assert one(rows, handler="blog.views.health")["full_path"] == "health/"  # urlpatterns += [...]


def test_django_auth_from_mixins_decorators_and_dispatch(tables: dict[str, list[dict[str, Any]]]) -> None:
    rows = tables["django_project"]
    assert one(rows, name="blog:create")["auth"] == ["LoginRequiredMixin"]
    edit = one(rows, name="blog:edit")
    assert edit["methods"] == ["GET", "POST"] and edit["auth"] == [
        "login_required"
    ]  # not require_http_methods
    assert one(rows, name="blog:stats")["auth"] == ["method_decorator(staff_member_required)"]
    assert one(rows, name="blog:index")["auth"] == [] and one(rows, name="blog:index")["methods"] == ["*"]


def test_django_mounts_outside_the_corpus_are_include_rows(tables: dict[str, list[dict[str, Any]]]) -> None:
    rows = find(tables["django_project"], kind="include")
    got = {r["full_path"]: (r["handler"], r["is_conditional"]) for r in rows}
    assert got == {
        "admin/": ("django.contrib.admin.site.urls", False),
        "__debug__/": ("debug_toolbar.urls", True),
    }


# -- Starlette and aiohttp ------------------------------------------------------------------------------


def test_starlette_mounts(tables: dict[str, list[dict[str, Any]]]) -> None:
    rows = tables["starlette_app"]
    got = {r["full_path"]: (r["name"], r["methods"]) for r in rows if r["kind"] == "route"}
    assert got == {
        "/": ("homepage", ["GET"]),
        "/dashboard": ("dash", ["GET", "POST"]),
        "/users/{id:int}": ("UserEndpoint", ["GET", "DELETE"]),  # an HTTPEndpoint's methods
        "/admin/stats": (
            "admin:stats",
            ["GET"],
        ),  # Mount("/admin", routes=<list from web/admin.py>, name="admin")
        "/api/status": ("status", ["GET"]),
        "/api/v2/ping": ("ping", ["GET"]),  # Mounts nested inline
        "/late": ("late", ["GET"]),  # app.add_route
    }
    assert one(rows, name="dash")["auth"] == ['requires("authenticated")']
    assert {r["full_path"] for r in rows if r["kind"] != "route"} == {"/ws", "/static"}


def test_aiohttp_table_defs_and_subapps(tables: dict[str, list[dict[str, Any]]]) -> None:
    rows = tables["aiohttp_app"]
    got = {r["full_path"]: r["methods"] for r in rows}
    assert got == {
        "/": ["GET"],
        "/items": ["POST"],
        "/items/{id}": ["GET", "PUT"],
        "/health": ["GET"],
        "/admin/stats": ["GET"],
        "/admin/any": ["*"],
    }
    assert {r["root"] for r in rows} == {"svc.server.make_app.<locals>.app"}
    assert one(rows, full_path="/admin/any")["chain"] == [
        "svc.server.make_app.<locals>.admin",
        "svc.server.make_app.<locals>.app",
    ]
    assert one(rows, full_path="/items")["auth"] == ["login_required"]


# -- the documented SQL -------------------------------------------------------------------------------


def doc_queries() -> dict[str, str]:
    """The SQL blocks of docs/tables/routes.md, by their first comment line."""
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return {b.splitlines()[0].lstrip("- ").strip(): b for b in blocks}


def test_documented_sql_routes_without_auth(store: Path) -> None:
    query = doc_queries()[
        "routes without an auth decorator or dependency (the attack surface to review first)"
    ]
    got = {(r["framework"], r["full_path"]) for r in sql(open_store(store), query).to_pylist()}
    assert got == {
        ("aiohttp", "/"),
        ("aiohttp", "/admin/any"),
        ("aiohttp", "/admin/stats"),
        ("aiohttp", "/health"),
        ("aiohttp", "/items/{id}"),
        ("django", "^archive/(?P<year>[0-9]{4})/$"),
        ("django", "accounts/ping/"),
        ("django", "api/users/"),
        ("django", "blog/"),
        ("django", "blog/<int:pk>/"),
        ("django", "health/"),
        ("django", "help/faq/"),
        ("fastapi", "/"),
        ("fastapi", "/users/"),
        ("fastapi", "/users/{user_id}/avatar"),
        ("fastapi", "/ws"),
        ("flask", "/"),
        ("flask", "/api/v1/items/<int:item_id>"),
        ("flask", "/api/v1/login"),
        ("flask", "/api/v2/items/<int:item_id>"),
        ("flask", "/api/v2/login"),
        ("flask", "/debug/routes"),
        ("flask", "/health"),
        ("flask", "/orphan/x"),
        ("flask", "/plugin"),
        ("flask", "/users/"),
        ("flask", "/users/api/<int:user_id>"),
        ("flask", None),
        ("starlette", "/"),
        ("starlette", "/admin/stats"),
        ("starlette", "/api/status"),
        ("starlette", "/api/v2/ping"),
        ("starlette", "/late"),
        ("starlette", "/users/{id:int}"),
        ("starlette", "/ws"),
    }


def test_documented_sql_other_questions(store: Path) -> None:
    st = open_store(store)
    queries = doc_queries()
    assert len(queries) == 6

    def run(title: str) -> list[dict[str, Any]]:
        return sql(st, queries[title]).to_pylist()

    writes = {(r["framework"], r["full_path"]) for r in run("state-changing routes without auth")}
    assert {
        ("flask", "/api/v1/login"),
        ("flask", "/plugin"),
        ("django", "help/faq/"),
        ("aiohttp", "/admin/any"),
        ("starlette", "/users/{id:int}"),
    } <= writes
    assert not {p for f, p in writes if p in ("/", "/health", "/users/", "blog/<int:pk>/")} - {
        "blog/<int:pk>/"
    }
    flagged = {
        r["full_path"]
        for r in run("routes that exist only under a condition (DEBUG, feature flags) or are generated")
    }
    assert {"/debug/routes", "__debug__/", None, "/plugin", "/health"} <= flagged and "/" not in flagged
    unmounted = [
        r["object"] for r in run("blueprints and routers declared but never mounted on an application")
    ]
    assert unmounted == ["shop.extras.orphan"]
    outside = {r["full_path"] for r in run("mounts whose routes are outside the scanned code")}
    assert outside == {"admin/", "__debug__/", "/static"}
    assert run("one path served by several declarations") == []


# -- real code: Django's own URLconfs, FastAPI's own docs routes -----------------------------------------


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return Path(spec.submodule_search_locations[0])


def test_django_contrib_urlconfs(tmp_path: Path) -> None:
    contrib = _package_dir("django") / "contrib"
    store = tmp_path / "s"
    extract(
        make_plan(
            [contrib / "flatpages", contrib / "admindocs", contrib / "auth"],
            store=store,
            workers=2,
            plugins=PLUGINS,
        )
    )
    flat = routes_table(store, "flatpages")
    assert [(r["route"], r["name"], r["handler"], r["handler_path"]) for r in flat] == [
        (
            "<path:url>",
            "django.contrib.flatpages.views.flatpage",
            "django.contrib.flatpages.views.flatpage",
            "views.py",
        )
    ]
    docs = routes_table(store, "admindocs")
    assert [(r["full_path"], r["name"], r["handler"].rsplit(".", 1)[1]) for r in docs] == [
        ("", "django-admindocs-docroot", "BaseAdminDocsView"),
        ("bookmarklets/", "django-admindocs-bookmarklets", "BookmarkletsView"),
        ("tags/", "django-admindocs-tags", "TemplateTagIndexView"),
        ("filters/", "django-admindocs-filters", "TemplateFilterIndexView"),
        ("views/", "django-admindocs-views-index", "ViewIndexView"),
        ("views/<view>/", "django-admindocs-views-detail", "ViewDetailView"),
        ("models/", "django-admindocs-models-index", "ModelIndexView"),
        (
            r"^models/(?P<app_label>[^.]+)\.(?P<model_name>[^/]+)/$",
            "django-admindocs-models-detail",
            "ModelDetailView",
        ),
        ("templates/<path:template>/", "django-admindocs-templates", "TemplateDetailView"),
    ]
    assert [r["is_regex"] for r in docs].count(True) == 1
    assert all(
        r["handler_path"] == "views.py" and r["root"] == "django.contrib.admindocs.urls.urlpatterns"
        for r in docs
    )
    auth = {r["name"]: r for r in routes_table(store, "auth") if r["path"] == "urls.py"}
    assert len(auth) == 8 and auth["password_reset_confirm"]["full_path"] == "reset/<uidb64>/<token>/"
    assert auth["logout"]["methods"] == ["POST", "OPTIONS"]  # LogoutView.http_method_names
    assert auth["login"]["handler"] == "django.contrib.auth.views.LoginView"
    assert auth["login"]["handler_path"] == "views.py"
    errors = sql(open_store(store), "SELECT count(*) AS n FROM errors").to_pylist()
    assert errors == [{"n": 0}]


def test_fastapi_registers_its_docs_routes_dynamically(tmp_path: Path) -> None:
    store = tmp_path / "s"
    extract(make_plan([_package_dir("fastapi")], store=store, workers=2, plugins=PLUGINS))
    rows = [r for r in routes_table(store) if r["path"] == "applications.py" and r["name"]]
    got = {r["name"]: r["route_source"] for r in rows}
    assert got == {
        "openapi": "self.openapi_url",
        "swagger_ui_html": "self.docs_url",
        "swagger_ui_redirect": "self.swagger_ui_oauth2_redirect_url",
        "redoc_html": "self.redoc_url",
    }
    for r in rows:  # @self.get(self.docs_url, ...) inside `if self.docs_url:` in FastAPI.setup()
        assert r["is_conditional"] and r["is_dynamic"] and r["full_path"] is None and r["methods"] == ["GET"]
        assert r["chain"] == ["fastapi.applications.FastAPI"] and r["handler"].startswith(
            "fastapi.applications.FastAPI.setup.<locals>."
        )


# -- incremental runs ------------------------------------------------------------------------------------


def test_a_prefix_changed_in_another_file_reaches_the_routes(tmp_path: Path) -> None:
    src = tmp_path / "flask_app"
    shutil.copytree(FIXTURES / "flask_app", src)
    store = tmp_path / "s"
    plan = make_plan([src], store=store, workers=1, plugins=PLUGINS)
    extract(plan)
    app_py = src / "shop" / "app.py"
    text = app_py.read_text()
    text = text.replace('url_prefix="/console"', 'url_prefix="/backoffice"')
    text = text.replace('app.register_blueprint(api, url_prefix="/api/v2", name="api_v2")\n', "")
    app_py.write_text(text)
    touch_later(app_py)
    summary = extract(plan)
    assert summary.operations["python.web.routes"]["ran"]
    rows = routes_table(store)
    assert one(rows, handler="shop.blueprints.admin.dashboard")["full_path"] == "/backoffice/dashboard"
    assert [r["full_path"] for r in find(rows, handler="shop.api.login")] == ["/api/v1/login"]
    fresh = tmp_path / "fresh"
    extract(make_plan([src], store=fresh, workers=1, plugins=PLUGINS))
    assert rows == routes_table(fresh)
    (src / "shop" / "extras.py").unlink()  # a deleted file takes its routes along
    extract(plan)
    assert not find(routes_table(store), path="shop/extras.py")


# -- the extractor on its own --------------------------------------------------------------------------


def _run_snippets(tmp_path: Path, files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return extract_rows(write_tree(tmp_path, files), select=["python.web.route_facts"])


def test_odd_declarations_do_not_fail(tmp_path: Path) -> None:
    got = _run_snippets(
        tmp_path,
        {
            "odd.py": (
                "from flask import Flask, Blueprint\nfrom django.urls import path, include\nimport requests\n"
                "app = Flask(__name__)\nbp = Blueprint()\n"
                "@app.route()\ndef a(): pass\n"
                "@app.route(*ROUTES, **opts)\ndef b(): pass\n"
                "app.register_blueprint()\napp.add_url_rule()\n"
                "urlpatterns = [path(), path('x/'), path('y/', include()), path('z/', include(*mods))]\n"
                "session = requests.Session()\nsession.mount('https://', adapter)\n"
                "admin.site.register(Model)\nx = [path('w/', v)][0]\n"
                "bp2 = Blueprint('b', __name__, url_prefix=PREFIX)\n"
            )
        },
    )
    assert not got["errors"], got["errors"]
    decls = got["route_decls"]
    assert [d["route"] for d in decls if d["owner"] == "odd.app"] == [None, None, None]
    assert {d["route"] for d in decls if d["owner"] == "odd.urlpatterns"} == {None, "x/"}
    mounts = got["route_mounts"]
    assert not [m for m in mounts if m["type"] == "mount"]  # requests' session.mount is no route
    prefix = one(mounts, key="odd.bp2")
    assert (prefix["prefix"], prefix["prefix_source"]) == (None, "PREFIX")


def test_default_names_come_from_the_function_not_the_variable(tmp_path: Path) -> None:
    got = _run_snippets(
        tmp_path,
        {
            "st.py": (
                "from starlette.routing import Route\n"
                "async def page(request): pass\n"
                "def make(endpoint):\n"
                "    return [Route('/e', endpoint), Route('/f', endpoint, name='f'), Route('/n', endpoint, name=N)]\n"
                "routes = [Route('/p', page)]\n"
            )
        },
    )
    names = {d["route"]: (d["name"], d["handler"]) for d in got["route_decls"]}
    assert names == {"/e": (None, None), "/f": ("f", None), "/n": (None, None), "/p": ("page", "st.page")}


def test_files_without_a_framework_cost_one_look(tmp_path: Path) -> None:
    got = _run_snippets(
        tmp_path,
        {
            "plain.py": "import os\n@functools.lru_cache()\ndef f(): pass\nd = {}\nd.get('x')\npath('a/', f)\n",
            "bare.py": "from .app import bp\n@bp.route('/bare')\ndef bare(): pass\n@cache.get('key')\ndef g(): pass\n",
        },
    )
    assert not got["errors"]
    assert [(d["path"], d["route"], d["owner"], d["framework"]) for d in got["route_decls"]] == [
        ("bare.py", "/bare", None, None)
    ]  # `from .app import bp` in a top-level module resolves to nothing
    assert [h["handler"] for h in got["route_handlers"]] == ["bare.bare"]


def test_the_extractor_never_walks_the_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_: Any, **__: Any) -> Any:
        raise AssertionError("the tree was walked")

    for name in ("walk", "iter_child_nodes"):
        monkeypatch.setattr(ast, name, forbidden)
    monkeypatch.setattr(ast.NodeVisitor, "visit", forbidden)
    files = {
        p.relative_to(FIXTURES / "django_project").as_posix(): p.read_text()
        for p in (FIXTURES / "django_project").rglob("*.py")
    }
    got = _run_snippets(tmp_path, files)
    assert not got["errors"] and len(got["route_decls"]) > 10


@pytest.mark.parametrize(
    ("framework", "prefix", "route", "expected"),
    [
        ("flask", "/users", "/", "/users/"),
        ("flask", "/users/", "/x", "/users/x"),
        ("flask", "/users", "", "/users"),
        ("fastapi", "/api", "/items", "/api/items"),
        ("fastapi", "", "/items", "/items"),
        ("starlette", "/api/", "/ping", "/api/ping"),
        ("aiohttp", "/admin/", "/stats", "/admin/stats"),
        ("django", "blog/", "<int:pk>/", "blog/<int:pk>/"),
        ("django", "^blog/", "^(?P<pk>\\d+)/$", "^blog/(?P<pk>\\d+)/$"),
        ("django", "api/", None, None),
        ("flask", None, "/x", None),
    ],
)
def test_join_path(framework: str, prefix: str | None, route: str | None, expected: str | None) -> None:
    assert join_path(framework, prefix, route) == expected


@pytest.mark.parametrize(
    ("decorators", "deps", "perms", "bases", "expected"),
    [
        (["login_required", "cache_page(60)", "csrf_exempt"], [], [], [], ["login_required"]),
        (["require_http_methods(['GET'])", "require_POST"], [], [], [], []),
        (
            ["method_decorator(login_required, name='dispatch')"],
            [],
            [],
            [],
            ["method_decorator(login_required, name='dispatch')"],
        ),
        (
            [],
            ["get_db", "get_current_active_user", "oauth2_scheme", "verify_api_key"],
            [],
            [],
            ["get_current_active_user", "oauth2_scheme", "verify_api_key"],
        ),
        (
            [],
            [],
            ["AllowAny", "HasAPIKey"],
            ["LoginRequiredMixin", "TemplateView"],
            ["LoginRequiredMixin", "HasAPIKey"],
        ),
        (["permission_classes([AllowAny])"], [], ["AllowAny"], [], []),
        (["jwt_required()", "auth.login_required"], [], [], [], ["jwt_required()", "auth.login_required"]),
    ],
)
def test_auth_markers(
    decorators: list[str], deps: list[str], perms: list[str], bases: list[str], expected: list[str]
) -> None:
    assert auth_markers(decorators, deps, perms, bases) == expected


# -- held-out application shapes -------------------------------------------------------------------------


def _routes_of(tmp_path: Path, files: dict[str, str]) -> list[dict[str, Any]]:
    root = write_tree(tmp_path / "src", files)
    store = tmp_path / "store"
    extract(make_plan([root], store=store, workers=1, plugins=PLUGINS))
    return routes_table(store)


def test_flask_restx_namespaces_and_restful_resources_under_a_subclassed_app(tmp_path: Path) -> None:
    rows = _routes_of(
        tmp_path,
        {
            "lend/__init__.py": (
                "from flask import Flask\n"
                "from lend.api import api_bp\n"
                "from lend.legacy import legacy\n"
                "class LendApp(Flask):\n    pass\n"
                "def create_app():\n"
                "    app = LendApp(__name__)\n"
                "    app.register_blueprint(api_bp)\n"
                "    legacy.init_app(app)\n"
                "    db.init_app(app)\n"
                "    return app\n"
            ),
            "lend/api/__init__.py": (
                "from flask import Blueprint\nfrom flask_restx import Api\n"
                "from lend.api.books import books_ns\nfrom lend.api.loans import loans_ns\n"
                "api_bp = Blueprint('api', __name__, url_prefix='/api/v2')\n"
                "api = Api(api_bp, version='2')\n"
                "api.add_namespace(books_ns, '/catalogue')\n"
                "api.add_namespace(loans_ns)\n"
            ),
            "lend/api/books.py": (
                "from flask_restx import Namespace, Resource\n"
                "books_ns = Namespace('books')\n"
                "@books_ns.route('')\nclass BookList(Resource):\n    def get(self): pass\n    def post(self): pass\n"
                "@books_ns.route('/<int:book_id>')\nclass Book(Resource):\n    def delete(self, book_id): pass\n"
            ),
            "lend/api/loans.py": (
                "from lend.api.space import loans_ns\n"  # no framework imported here
                "@loans_ns.route('/overdue')\nclass Overdue:\n    def get(self): pass\n"
            ),
            "lend/api/space.py": "from flask_restx import Namespace\nloans_ns = Namespace('loans', path='/lending')\n",
            "lend/legacy.py": (
                "from flask_restful import Api, Resource\n"
                "legacy = Api(prefix='/old')\n"
                "class Member(Resource):\n    def get(self, mid): pass\n    def put(self, mid): pass\n"
                "legacy.add_resource(Member, '/members/<int:mid>', '/m/<int:mid>', endpoint='member')\n"
            ),
        },
    )
    got = sorted((r["full_path"], ",".join(r["methods"]), r["handler"], r["root"], r["name"]) for r in rows)
    app = "lend.create_app.<locals>.app"
    assert got == [
        ("/api/v2/catalogue", "GET,POST", "lend.api.books.BookList", app, None),
        ("/api/v2/catalogue/<int:book_id>", "DELETE", "lend.api.books.Book", app, None),
        ("/api/v2/lending/overdue", "GET", "lend.api.loans.Overdue", app, None),
        ("/old/m/<int:mid>", "GET,PUT", "lend.legacy.Member", app, None),
        ("/old/members/<int:mid>", "GET,PUT", "lend.legacy.Member", app, None),
    ]
    assert {r["framework"] for r in rows} == {"flask"}  # db.init_app(app) mounts nothing: no include row


def test_routes_declared_on_an_application_handed_to_a_function(tmp_path: Path) -> None:
    rows = _routes_of(
        tmp_path,
        {
            # the aiohttp tutorial's layout: routes.py imports only its views
            "garden/routes.py": (
                "from garden.views import beds, plant\n"
                "def setup_routes(app, prefix):\n"
                "    app.router.add_get('/beds', beds, name='beds')\n"
                "    app.router.add_static('/seeds/', path=SEED_DIR, name='seeds')\n"
                "    router = app.router\n"
                "    router.add_post('/beds/{bed}/plant', plant)\n"
                "def setup_admin(*, site):\n"
                "    add_route = site.router.add_route\n    add_route('DELETE', '/beds/{bed}', beds)\n"
                "def never_called(app):\n    app.router.add_get('/lost', beds)\n"
            ),
            "garden/__init__.py": "",
            "garden/views.py": "async def beds(request): pass\nasync def plant(request): pass\n",
            "garden/main.py": (
                "from aiohttp import web\nfrom garden.routes import setup_routes, setup_admin\n"
                "from garden import routes\n"
                "def make_app():\n"
                "    app = web.Application()\n"
                "    setup_routes(app, '/ignored')\n    setup_routes(app, '/twice: one way up, one row')\n"
                "    setup_admin(site=app)\n"
                "    helpers.configure(app)\n"
                "    return app\n"
            ),
            "farm/__init__.py": "from flask import Flask\nfrom farm.wiring import wire\napp = Flask(__name__)\nwire(app)\n",
            "farm/views.py": (
                "from flask import Blueprint\nbarn = Blueprint('barn', __name__)\n@barn.route('/cows')\ndef cows(): pass\n"
            ),
            "farm/wiring.py": (  # no framework imported here either
                "from farm.views import barn\ndef wire(app):\n    app.register_blueprint(barn, url_prefix='/barn')\n"
            ),
        },
    )
    got = sorted(
        (r["framework"], ",".join(r["methods"]), r["full_path"], r["handler"], r["root"]) for r in rows
    )
    app = "garden.main.make_app.<locals>.app"
    assert got == [
        ("aiohttp", "", "/seeds/", None, app),  # static files: an include row
        ("aiohttp", "DELETE", "/beds/{bed}", "garden.views.beds", app),
        ("aiohttp", "GET", "/beds", "garden.views.beds", app),
        ("aiohttp", "GET", "/lost", "garden.views.beds", None),  # nothing hands it an application
        ("aiohttp", "POST", "/beds/{bed}/plant", "garden.views.plant", app),
        ("flask", "GET", "/barn/cows", "farm.views.cows", "farm.app"),
    ]
    assert one(rows, full_path="/lost")["chain"] == []  # as for any object not known
    seeds = one(rows, full_path="/seeds/")
    assert (seeds["kind"], seeds["view_source"]) == ("include", "SEED_DIR")


def test_drf_router_without_trailing_slash_and_old_base_name(tmp_path: Path) -> None:
    rows = _routes_of(
        tmp_path,
        {
            "kanban/__init__.py": "",
            "kanban/api.py": (
                "from rest_framework import viewsets\n"
                "class CardViewSet(viewsets.ModelViewSet):\n    pass\n"
                "class LaneViewSet(viewsets.ReadOnlyModelViewSet):\n    pass\n"
            ),
            "kanban/routers.py": (
                "from kanban.vendored import routers\nfrom kanban.api import CardViewSet, LaneViewSet\n"
                "from django.urls import path, include\n"
                "bare = routers.DefaultRouter(trailing_slash=False)\n"
                "bare.register(r'cards', CardViewSet, base_name='cards')\n"
                "slashed = routers.SimpleRouter()\n"
                "slashed.register(r'lanes', LaneViewSet, basename='lanes')\n"
                "urlpatterns = [path('api/', include(bare.urls)), path('v2/', include(slashed.urls))]\n"
            ),
        },
    )
    got = sorted((r["full_path"], r["name"], r["handler"]) for r in rows)
    assert got == [
        ("api/cards", "cards", "kanban.api.CardViewSet"),
        ("v2/lanes/", "lanes", "kanban.api.LaneViewSet"),
    ]


def test_mock_patch_decorators_are_no_routes(tmp_path: Path) -> None:
    got = _run_snippets(
        tmp_path,
        {
            "test_board.py": (
                "from unittest import mock\nimport mock as oldmock\nfrom django.test import TestCase\n"
                "@mock.patch('board.tasks.send')\ndef test_send(send): pass\n"
                "@oldmock.patch('/srv/board')\ndef test_path(p): pass\n"
                "@router.patch('/cards/{id}')\ndef patch_card(id): pass\n"
            )
        },
    )
    assert [(d["route"], d["handler"]) for d in got["route_decls"]] == [
        ("/cards/{id}", "test_board.patch_card")
    ]


def test_a_helper_registering_routes_from_its_parameters_gives_the_callers_literals(tmp_path: Path) -> None:
    rows = _routes_of(
        tmp_path,
        {
            "quay/__init__.py": "",
            "quay/util.py": (
                "from flask import url_for\n"
                "def hook(target, rules, view_func, *args, **kwargs):\n"
                "    for rule in rules:\n"
                "        target.add_url_rule(rule, view_func=view_func, *args, **kwargs)\n"
                "def one(target, rule, view):\n    target.add_url_rule(rule, view_func=view)\n"
                "def named(target, rules, view):\n"
                "    for rule in rules:\n        target.add_url_rule(rule, 'fixed', view)\n"
            ),
            "quay/views.py": (
                "from flask import Flask, Blueprint\nfrom flask.views import MethodView\n"
                "from quay.util import hook, one, named\n"
                "class Dock(MethodView):\n    def get(self): pass\n    def post(self): pass\n"
                "def pier(): pass\n"
                "def login_required(f): return f\n"
                "def make():\n"
                "    app = Flask(__name__)\n"
                "    bp = Blueprint('harbour', __name__)\n"
                "    hook(bp, rules=['/dock/<int:n>', '/d/<int:n>'], view_func=Dock.as_view('dock'))\n"
                "    hook(bp, ('/pier',), login_required(pier))\n"
                "    hook(bp, ['/opts'], view_func=pier, methods=['POST'])\n"  # kwargs passed on: unknown
                "    hook(bp, '/chars', pier)\n"  # a string iterated: not a route list
                "    one(bp, '/single', view=pier)\n"
                "    named(bp, ['/named'], pier)\n"  # endpoint fixed by the helper: not followed
                "    app.register_blueprint(bp, url_prefix='/h')\n"
                "    return app\n"
            ),
        },
    )
    got = sorted((r["full_path"] or "", r["route"] or "", r["name"] or "", r["handler"] or "") for r in rows)
    assert got == [
        ("", "", "", ""),  # hook's own route, for the two calls it could not follow
        ("", "", "harbour.fixed", ""),  # named's route: not a template
        ("/h/d/<int:n>", "/d/<int:n>", "harbour.dock", "quay.views.Dock"),
        ("/h/dock/<int:n>", "/dock/<int:n>", "harbour.dock", "quay.views.Dock"),
        ("/h/pier", "/pier", "harbour.pier", "quay.views.pier"),
        ("/h/single", "/single", "harbour.pier", "quay.views.pier"),
    ]
    dock = one(rows, full_path="/h/dock/<int:n>")
    assert (dock["path"], dock["line"], dock["methods"]) == ("quay/views.py", 12, ["GET", "POST"])
    assert dock["root"] == "quay.views.make.<locals>.app"
    assert one(rows, full_path="/h/pier")["decorators"] == ["login_required"]


def test_an_application_made_by_a_subclass_imported_from_another_file(tmp_path: Path) -> None:
    rows = _routes_of(
        tmp_path,
        {
            "mill/__init__.py": "from mill.base import MillApp\n",  # re-exported
            "mill/base.py": "from flask import Flask\nclass MillApp(Flask):\n    pass\n",
            "mill/app.py": (
                "from flask import Blueprint\nfrom mill import MillApp\nfrom mill import base\n"
                "app = MillApp(__name__)\n"
                "grain = Blueprint('grain', __name__)\n@grain.route('/flour')\ndef flour(): pass\n"
                "app.register_blueprint(grain, url_prefix='/g')\n"
                "@app.route('/')\ndef home(): pass\n"
                "other = base.MillApp(__name__)\n@other.route('/o')\ndef o(): pass\n"
                "notapp = Helper(__name__)\n@notapp.route('/n')\ndef n(): pass\n"
            ),
        },
    )
    got = sorted((r["full_path"], r["root"]) for r in rows)
    assert got == [
        ("/", "mill.app.app"),
        ("/g/flour", "mill.app.app"),
        ("/n", None),  # a class not known to derive from an application class
        ("/o", "mill.app.other"),
    ]


def test_a_router_imported_from_the_package_and_handed_to_a_helper(tmp_path: Path) -> None:
    rows = _routes_of(
        tmp_path,
        {
            "dock/__init__.py": "",
            "dock/api.py": "from fastapi import APIRouter\napi_router = APIRouter()\n",
            "dock/extra.py": "from fastapi import APIRouter\nextra = APIRouter()\n@extra.get('/x')\ndef x(): pass\n",
            "dock/wiring.py": (
                "from dock.extra import extra\n"
                "def install(api):\n    api.include_router(extra, prefix='/events')\n"
                "def unrelated(thing):\n    thing.include_router(extra, prefix='/never')\n"
            ),
            "dock/main.py": (
                "from fastapi import FastAPI\nfrom .api import api_router\nfrom dock.wiring import install\n"
                "from json import dumps\n"
                "app = FastAPI()\n"
                "install(api_router)\n"
                "dumps(api_router)\n"  # a function of another package: no edge
                "app.include_router(api_router, prefix='/api')\n"
            ),
        },
    )
    got = sorted((r["full_path"], r["root"]) for r in rows)
    assert got == [("/api/events/x", "dock.main.app"), ("/never/x", None)]
