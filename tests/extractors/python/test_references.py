"""python.call_graph's references table: every use of a function, class or module, so that "defined but
never referenced" finds only what nothing uses (the query documented in the README)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codequarry import extract, make_plan, open_store, sql

PROJ = {
    "site/settings.py": """
        MIDDLEWARE = [
            "django.middleware.common.CommonMiddleware",
            "site.middleware.TimingMiddleware",
        ]
        TEMPLATES = [{"OPTIONS": {"context_processors": ["site.context.user_flags"]}}]
    """,
    "site/__init__.py": "",
    "site/middleware.py": """
        class TimingMiddleware:
            def __init__(self, get_response):
                self.get_response = get_response
    """,
    "site/context.py": """
        def user_flags(request):
            return {}
    """,
    "site/signals.py": """
        from django.db.models.signals import post_save
        from django.dispatch import receiver


        def on_save(sender, **kwargs):
            pass


        post_save.connect(on_save)


        @receiver(post_save)
        def audit(sender, **kwargs):
            pass


        def never_used():
            pass


        def helper():
            return 1


        HOOKS = {"h": helper}


        class Base:
            pass


        class Child(Base):
            pass
    """,
    "site/api.py": """
        __all__ = ["exported"]
        __all__ += ["configure"]


        def logged(func):
            def wrapper(*args):
                return func(*args)

            return wrapper


        @logged
        def exported():
            pass


        class Config:
            pass


        def configure(config: Config) -> None:
            pass
    """,
}

NEVER = """
    SELECT f.module || '.' || f.qualname AS name FROM functions f
    WHERE NOT EXISTS (SELECT 1 FROM "references" r
                      WHERE r.target = f.module || '.' || f.qualname AND r.target_repo = f.repo)
      AND NOT starts_with(f.name, '__') AND f.class_name IS NULL
    ORDER BY name
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("refs")
    for rel, text in PROJ.items():
        p = base / "proj" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip())
    extract(make_plan([base / "proj"], store=base / "store", workers=1, select=["python.call_graph"]))
    return base / "store"


def test_defined_but_never_referenced_finds_only_the_unused_function(store: Path) -> None:
    assert sql(open_store(store), NEVER).column("name").to_pylist() == ["site.signals.never_used"]


def test_each_kind_of_use_is_a_row(store: Path) -> None:
    rows = sql(
        open_store(store), 'SELECT kind, target, target_kind, path, line FROM "references"'
    ).to_pylist()
    got = {(r["kind"], r["target"]) for r in rows}
    assert ("string", "site.middleware.TimingMiddleware") in got  # MIDDLEWARE
    assert ("string", "site.context.user_flags") in got  # TEMPLATES context_processors
    assert ("argument", "site.signals.on_save") in got  # post_save.connect(on_save)
    assert ("read", "site.signals.helper") in got  # a dict value
    assert ("base", "site.signals.Base") in got
    assert ("export", "site.api.configure") in got  # named in __all__ (+=)
    assert ("read", "site.api.logged.<locals>.wrapper") in got  # a nested def returned
    assert ("annotation", "site.api.Config") in got
    # django is not in the corpus: its names are not references to anything defined here
    assert not any(r["target"].startswith("django") for r in rows)
    kinds = {r["target"]: r["target_kind"] for r in rows}
    assert kinds["site.middleware.TimingMiddleware"] == "class"
    assert kinds["site.context.user_flags"] == "function"
