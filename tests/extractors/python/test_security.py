"""The ``security_findings`` table: every rule with true positives and near misses that must not
fire, the fixture app's golden rows, the documented SQL, incremental runs, the walk-once rule, and
facts of real code (the standard library and Django)."""

from __future__ import annotations

import os
import shutil
import sysconfig
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.extractors.python.security.rules import RULES
from codequarry.registry import load_catalog
from codequarry.source import SourceFile
from codequarry.testing import extract_rows
from tests.extractors.python.test_sql_env import (
    PLUGINS,
    SELECT,
    SHOP,
    check_golden,
    django_root,
    query,
    rows,
    run_snippets,
    shop_store,  # noqa: F401  (a fixture)
)

STDLIB = Path(sysconfig.get_paths()["stdlib"])

# rule -> (files that must fire: {path: (source, number of findings of the rule)}, near misses: {path: source})
CASES: dict[str, tuple[dict[str, tuple[str, int]], dict[str, str]]] = {
    "eval-exec": (
        {
            "pos.py": (
                """
            def f(x, src):
                exec(compile(src, "<s>", "exec"))
                return eval(x)
        """,
                2,
            )
        },
        {
            "neg.py": """
            import ast

            class C:
                def eval(self, x):
                    return x

                def g(self, x):
                    return self.eval(x), eval("1 + 2"), ast.literal_eval(x)
        """,
            "neg_local.py": """
            def eval(x):
                return x

            def g(y):
                return eval(y)
        """,
        },
    ),
    "shell-true": (
        {
            "pos.py": (
                """
            import subprocess
            from subprocess import run as r

            def f(cmd):
                r(cmd, shell=True)
                subprocess.Popen("ls -l " + cmd, shell=1)
        """,
                2,
            )
        },
        {
            "neg.py": """
            import subprocess

            def run(cmd, shell=False):
                return cmd

            def f(cmd):
                run(cmd, shell=True)
                subprocess.run(cmd, shell=False)
                subprocess.run(["ls", cmd])
        """
        },
    ),
    "os-command": (
        {
            "pos.py": (
                """
            import os
            from subprocess import getoutput

            def f(name):
                os.system("rm -rf " + name)
                return os.popen(name).read(), getoutput(f"ls {name}")
        """,
                3,
            )
        },
        {
            "neg.py": """
            import os
            import subprocess

            def f():
                os.system("make clean")
                return os.popen("ls").read(), subprocess.getoutput(["ls"])
        """
        },
    ),
    "pickle-load": (
        {
            "pos.py": (
                """
            import marshal
            import pickle as pk
            from pickle import Unpickler

            def f(b, fh):
                return pk.loads(b), marshal.loads(b), Unpickler(fh).load()
        """,
                3,
            )
        },
        {
            "neg.py": """
            import json
            import pickle

            def f(b, obj):
                return json.loads(b), pickle.dumps(obj)
        """
        },
    ),
    "yaml-load": (
        {
            "pos.py": (
                """
            import yaml

            def f(s):
                return yaml.load(s), yaml.load(s, Loader=yaml.Loader), yaml.unsafe_load(s)
        """,
                3,
            )
        },
        {
            "neg.py": """
            import yaml
            from yaml import SafeLoader

            def f(s):
                return yaml.safe_load(s), yaml.load(s, Loader=SafeLoader), yaml.load(s, yaml.CSafeLoader)
        """
        },
    ),
    "tls-verify-disabled": (
        {
            "pos.py": (
                """
            import httpx
            import requests

            def f(url, session):
                requests.post(url, verify=False)
                client = httpx.Client(verify=False)
                session.verify = False
                return session.get(url, verify=False), client
        """,
                4,
            )
        },
        {
            "neg.py": """
            import requests

            def f(url):
                return requests.get(url, verify=True), requests.get(url, verify="/etc/ca.pem")
        """,
            "neg_other.py": """
            def f(d):
                return d.get("x", verify=False)
        """,
        },
    ),
    "weak-hash": (
        {
            "pos.py": (
                """
            import hashlib
            from hashlib import sha1

            def f(b):
                return hashlib.md5(b).hexdigest(), sha1(b), hashlib.new("MD5", b)
        """,
                3,
            )
        },
        {
            "neg.py": """
            import hashlib

            def md5(b):
                return b

            def f(b):
                return hashlib.sha256(b), hashlib.md5(b, usedforsecurity=False), hashlib.new("sha256"), md5(b)
        """
        },
    ),
    "insecure-random": (
        {
            "pos.py": (
                """
            import random

            def f(user):
                reset_token = random.getrandbits(64)
                return user.save(salt=random.randint(0, 10**6)), reset_token

            def new_password():
                return "".join(random.choices("abcdef", k=12))
        """,
                3,
            )
        },
        {
            "neg.py": """
            import random
            import secrets

            def shuffle(items, cache):
                random.shuffle(items)
                pick = random.choice(items)
                evict_key = random.choice(list(cache))
                return sorted(items, key=lambda _: random.random()), pick

            def token():
                return secrets.token_hex(16), random.SystemRandom().random()
        """
        },
    ),
    "hardcoded-secret": (
        {
            "pos.py": (
                """
            PASSWORD = "hunter2"
            SETTINGS = {"client_secret": "9f8e7d6c5b4a"}

            class Config:
                api_key = "AKIA1234567890ABCDEF"

            def connect(db, password="s3cr3t!"):
                return db.login(user="admin", token="eyJhbGciOiJIUzI1NiJ9")
        """,
                5,
            )
        },
        {
            "neg.py": """
            import os

            PASSWORD = ""
            PASSWORD_FIELD = "password"
            TOKEN_HEADER = "X-Auth-Token"
            SECRET_KEY = os.environ["SECRET_KEY"]
            API_KEY = "changeme"
            DB_PASSWORD = "${DB_PASSWORD}"
            ADMIN_PASSWORD = "<set me>"
            SESSION_KEY = "_auth_user_id"
            password_help = "Enter your password"
            AUTH_TOKEN_URL = "https://example.com/oauth/token"
            reset_url_token = "set-password"
            tokens = ["a", "b"]
            token = "[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
            _DEFAULT_TOKEN = "_sa_default"
            password = "test"
            shown_password = ":****"
            PLACEHOLDER_TOKEN = "__PLACEHOLDER__"
        """
        },
    ),
    "jwt-no-verify": (
        {
            "pos.py": (
                """
            import jwt

            def f(t):
                a = jwt.decode(t, verify=False)
                b = jwt.decode(t, options={"verify_signature": False})
                return a, b, jwt.decode(t, "k", algorithms=["none"])
        """,
                3,
            )
        },
        {
            "neg.py": """
            import jwt

            def f(t, key):
                return (jwt.decode(t, key, algorithms=["HS256"]),
                        jwt.decode(t, key, algorithms=["RS256"], options={"verify_exp": False}))
        """
        },
    ),
    "flask-debug": (
        {
            "pos.py": (
                """
            from flask import Flask

            app = Flask(__name__)

            if __name__ == "__main__":
                app.run(host="0.0.0.0", debug=True)
        """,
                1,
            )
        },
        {
            "neg.py": """
            import os

            from flask import Flask

            app = Flask(__name__)
            app.run(debug=False)
            app.run(debug=os.environ.get("FLASK_DEBUG") == "1")
        """,
            "neg_job.py": """
            class Job:
                def run(self, debug=False):
                    return debug

            Job().run(debug=True)
        """,
        },
    ),
    "django-debug": (
        {
            "proj/settings.py": ("DEBUG = True\n", 1),
            "conf/local.py": ("INSTALLED_APPS = []\nDEBUG = True\n", 1),
        },
        {
            "proj/settings_prod.py": """
            import os

            DEBUG = os.environ.get("DEBUG") == "1"

            def enable():
                DEBUG = True
                return DEBUG
        """,
            "tool.py": "DEBUG = True\nVERBOSE = True\n",
        },
    ),
    "django-allowed-hosts": (
        {"proj/settings.py": ('ALLOWED_HOSTS = ["*"]\nALLOWED_HOSTS += ("*",)\n', 2)},
        {"proj/settings_prod.py": 'ALLOWED_HOSTS = ["example.com", ".example.com"]\n'},
    ),
    "csrf-exempt": (
        {
            "views.py": (
                """
            from django.utils.decorators import method_decorator
            from django.views.decorators import csrf
            from django.views.decorators.csrf import csrf_exempt

            @csrf_exempt
            def hook(request):
                return request

            @csrf.csrf_exempt
            def hook2(request):
                return request

            @method_decorator(csrf_exempt, name="dispatch")
            class Callback:
                pass

            urls = [csrf_exempt(hook)]
        """,
                4,
            ),
            "api.py": (
                """
            from flask import Flask
            from flask_wtf.csrf import CSRFProtect

            app = Flask(__name__)
            csrf = CSRFProtect(app)

            @app.post("/hook")
            @csrf.exempt
            def hook():
                return "ok"
        """,
                1,
            ),
        },
        {
            "neg.py": """
            from django.http import HttpResponse
            from django.views.decorators.csrf import csrf_protect

            def csrf_exempt(view):
                return view

            @csrf_protect
            def v(request):
                return HttpResponse()

            @csrf_exempt
            def w(request):
                return HttpResponse()
        """
        },
    ),
    "sql-interpolation": (
        {
            "pos.py": (
                """
            def f(cur, name):
                cur.execute(f"SELECT * FROM users WHERE name = '{name}'")
                q = "DELETE FROM users WHERE name = '%s'" % name
                cur.execute(q)
        """,
                2,
            )
        },
        {
            "neg.py": """
            from psycopg2 import sql

            def f(cur, name, ids, table):
                cur.execute("SELECT * FROM users WHERE name = %s", (name,))
                cur.execute(f"SELECT * FROM users")
                cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                cur.execute("SELECT * FROM t WHERE id IN (" + ", ".join(["?"] * len(ids)) + ")", ids)
                runner.execute(f"task {name}")
        """
        },
    ),
}


@pytest.fixture(scope="module")
def case_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every case of every rule in its own folder, extracted in one go; findings by folder-relative path."""
    root = tmp_path_factory.mktemp("cases")
    files: dict[str, str] = {}
    for rule, (positives, negatives) in CASES.items():
        for rel, (source, _) in positives.items():
            files[f"{rule}/{rel}"] = source
        for rel, source in negatives.items():
            files[f"{rule}/{rel}"] = source
    got = run_snippets(root, files)
    assert not got["errors"], got["errors"]
    by_path: dict[str, list[dict[str, Any]]] = {path: [] for path in files}
    for row in got.get("security_findings", []):
        by_path[row["path"]].append(row)
    return by_path


def test_every_rule_has_cases() -> None:
    assert set(CASES) == set(RULES)
    assert all(pos and neg for pos, neg in CASES.values())


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_fires_on_true_positives(rule: str, case_rows: dict[str, list[dict[str, Any]]]) -> None:
    for rel, (_, expected) in CASES[rule][0].items():
        found = case_rows[f"{rule}/{rel}"]
        assert [r["rule"] for r in found] == [rule] * expected, f"{rule}/{rel}: {found}"
        for r in found:
            meta = RULES[rule]
            assert (r["cwe"], r["message"]) != (None, "") and r["cwe"] == meta.cwe
            assert r["severity"] in ("high", "medium", "low") and r["line"] >= 1 and r["snippet"]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_does_not_fire_on_near_misses(rule: str, case_rows: dict[str, list[dict[str, Any]]]) -> None:
    for rel in CASES[rule][1]:
        assert case_rows[f"{rule}/{rel}"] == [], f"{rule}/{rel} fired"


def test_shell_true_severity_follows_the_command(tmp_path: Path) -> None:
    got = run_snippets(
        tmp_path,
        {
            "m.py": """
        import subprocess
        subprocess.run("ls -l", shell=True)
        subprocess.run(["ls", "-l"], shell=True)
        subprocess.run(cmd, shell=True)
    """
        },
    )
    assert [(r["line"], r["severity"]) for r in got["security_findings"]] == [
        (3, "low"),
        (4, "low"),
        (5, "high"),
    ]


def test_secret_snippets_are_masked(case_rows: dict[str, list[dict[str, Any]]]) -> None:
    snippets = [r["snippet"] for r in case_rows["hardcoded-secret/pos.py"]]
    assert "PASSWORD = 'hu*****'" in snippets
    assert not any("hunter2" in s or "AKIA1234567890ABCDEF" in s for s in snippets)


def test_resolution_follows_local_bindings(tmp_path: Path) -> None:
    got = run_snippets(
        tmp_path,
        {
            "m.py": """
        import pickle
        import subprocess

        def f(data, cmd):
            pickle = None
            subprocess = object()
            return pickle.loads(data), subprocess.run(cmd, shell=True)

        def g(data):
            return pickle.loads(data)
    """
        },
    )
    assert [(r["rule"], r["scope"]) for r in got["security_findings"]] == [("pickle-load", "g")]


# -- the fixture app ---------------------------------------------------------------------------------------------


def test_golden() -> None:
    check_golden("findings", ("security_findings",))


def test_fixture_app_findings_per_file() -> None:
    per_file = Counter((r["path"], r["rule"]) for r in rows("security_findings"))
    assert per_file == Counter(
        {
            ("shop/api.py", "hardcoded-secret"): 1,
            ("shop/api.py", "csrf-exempt"): 1,
            ("shop/api.py", "jwt-no-verify"): 1,
            ("shop/api.py", "tls-verify-disabled"): 1,
            ("shop/api.py", "flask-debug"): 1,
            ("shop/db.py", "sql-interpolation"): 4,
            ("shop/settings/dev.py", "django-debug"): 1,
            ("shop/settings/dev.py", "django-allowed-hosts"): 1,
            ("shop/settings/dev.py", "hardcoded-secret"): 1,
            ("shop/tasks.py", "shell-true"): 1,
            ("shop/tasks.py", "pickle-load"): 1,
            ("shop/tasks.py", "yaml-load"): 1,
            ("shop/tasks.py", "weak-hash"): 1,
            ("shop/tasks.py", "insecure-random"): 1,
            ("shop/tasks.py", "eval-exec"): 1,
            ("shop/urls.py", "csrf-exempt"): 1,
            ("shop/views.py", "csrf-exempt"): 2,
            ("shop/views.py", "sql-interpolation"): 2,
        }
    )
    # the look-alike module, the production settings and the local `text` helper stay quiet
    assert not rows("security_findings", path="shop/nearmiss.py")
    assert not rows("security_findings", path="shop/settings/prod.py")
    assert not rows("security_findings", path="shop/reports.py")


def test_doc_findings_by_rule(shop_store: Path) -> None:  # noqa: F811
    got = {(r["rule"], r["severity"]): r["n"] for r in query(shop_store, "findings_by_rule")}
    assert got[("sql-interpolation", "high")] == 6 and got[("csrf-exempt", "medium")] == 4
    assert sum(got.values()) == len(rows("security_findings"))


def test_doc_high_findings(shop_store: Path) -> None:  # noqa: F811
    got = [(r["path"], r["line"], r["rule"]) for r in query(shop_store, "high_findings")]
    assert ("shop/tasks.py", 14, "shell-true") in got and ("shop/api.py", 36, "flask-debug") in got
    assert all(
        rule
        in {
            "eval-exec",
            "shell-true",
            "os-command",
            "tls-verify-disabled",
            "jwt-no-verify",
            "flask-debug",
            "sql-interpolation",
        }
        for _, _, rule in got
    )


# -- the extractor contract -----------------------------------------------------------------------------------------


def test_declarations() -> None:
    catalog = load_catalog(PLUGINS)
    for name, dataset in (
        ("python.sql.strings", "sql_strings"),
        ("python.env.reads", "env_reads"),
        ("python.security.findings", "security_findings"),
    ):
        ex = catalog.extractors[name]
        assert (ex.version, ex.needs, ex.output_names) == (1, ("ast",), (dataset,))


def test_walk_once_with_the_core_extractors() -> None:
    everything = sorted({name.split(".")[0] for name in load_catalog().extractors})
    before = SourceFile.traversals
    got = extract_rows(SHOP, select=everything)  # every built-in extractor, these three included
    assert SourceFile.traversals - before == len(list(SHOP.rglob("*.py")))
    assert not got["errors"] and len(got["security_findings"]) == len(rows("security_findings"))


def test_incremental_run_equals_a_fresh_one(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SHOP, src)
    store = tmp_path / "store"
    plan = make_plan([src], store=store, workers=1, plugins=PLUGINS, select=SELECT)
    extract(plan)
    tasks = src / "shop" / "tasks.py"
    text = tasks.read_text()
    tasks.write_text(
        text.replace("return eval(expr)", "return os.system(expr)").replace(
            "import hashlib", "import hashlib\nimport os"
        )
    )
    st_ = tasks.stat()
    os.utime(tasks, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
    (src / "shop" / "nearmiss.py").unlink()
    extract(plan)
    fresh = tmp_path / "fresh"
    extract(make_plan([src], store=fresh, workers=1, plugins=PLUGINS, select=SELECT))
    q = "SELECT path, rule, line, message FROM security_findings ORDER BY path, line, rule"
    after = sql(open_store(store), q).to_pylist()
    assert after == sql(open_store(fresh), q).to_pylist()
    rules = {r["rule"] for r in after if r["path"] == "shop/tasks.py"}
    assert "os-command" in rules and "eval-exec" not in rules
    for table in ("sql_strings", "env_reads"):
        q2 = f"SELECT * FROM {table} ORDER BY path, line, col"
        assert sql(open_store(store), q2).to_pylist() == sql(open_store(fresh), q2).to_pylist()


# -- real code --------------------------------------------------------------------------------------------------------

STDLIB_FILES = (
    "idlelib/rpc.py",
    "shelve.py",
    "sqlite3/dump.py",
    "os.py",
    "pydoc.py",
    "uuid.py",
    "email/generator.py",
    "pdb.py",
    "pickle.py",
    "mailcap.py",
    "urllib/request.py",
)


@pytest.fixture(scope="module")
def stdlib_findings() -> list[dict[str, Any]]:
    paths = [STDLIB / f for f in STDLIB_FILES if (STDLIB / f).exists()]
    if len(paths) < len(STDLIB_FILES):
        pytest.skip("this Python's standard library lacks some of the files the facts are about")
    got = extract_rows(STDLIB, select=SELECT, exclude=["site-packages"], paths=STDLIB_FILES)
    assert not got["errors"], got["errors"]
    return got["security_findings"]


def test_stdlib_facts(stdlib_findings: list[dict[str, Any]]) -> None:
    found = Counter((r["path"], r["rule"]) for r in stdlib_findings)
    assert found[("idlelib/rpc.py", "pickle-load")] == 2  # marshal.loads and pickle.loads
    assert found[("shelve.py", "pickle-load")] >= 5  # Unpickler(f), imported from pickle
    assert found[("sqlite3/dump.py", "sql-interpolation")] >= 1  # PRAGMA table_info("{0}").format(...)
    assert found[("os.py", "shell-true")] == 2  # os.popen runs subprocess.Popen(cmd, shell=True)
    assert found[("pydoc.py", "os-command")] >= 1 and found[("mailcap.py", "os-command")] >= 1
    assert found[("pdb.py", "eval-exec")] >= 3
    assert found[("email/generator.py", "insecure-random")] == 1  # token = random.randrange(sys.maxsize)
    hashes = {
        r["message"][:4] for r in stdlib_findings if r["path"] == "uuid.py" and r["rule"] == "weak-hash"
    }
    assert hashes == {"sha1"}  # uuid3's md5 passes usedforsecurity=False; uuid5's sha1 does not
    # nothing in these modules is a hardcoded secret, a Django setting or a JWT
    assert not {r["rule"] for r in stdlib_findings} & {"hardcoded-secret", "django-debug", "jwt-no-verify"}


@pytest.fixture(scope="module")
def django_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = django_root()
    store = tmp_path_factory.mktemp("django-sec") / "store"
    folders = [root / "contrib" / "auth", root / "core" / "cache", root / "db" / "backends" / "sqlite3"]
    extract(make_plan(folders, store=store, workers=2, plugins=PLUGINS, select=SELECT))
    return store


def test_django_facts(django_store: Path) -> None:
    st = open_store(django_store)
    got = Counter(
        (r["repo"], r["path"], r["rule"])
        for r in sql(st, "SELECT repo, path, rule FROM security_findings").to_pylist()
    )
    # the unsalted MD5 password hasher, kept for legacy databases
    assert got[("auth", "hashers.py", "weak-hash")] >= 1
    # the cache backends unpickle what they stored
    for backend in ("db.py", "filebased.py", "locmem.py", "redis.py"):
        assert got[("cache", f"backends/{backend}", "pickle-load")] >= 1, backend
    # the SQLite backend interpolates quoted identifiers into PRAGMA and DDL statements
    assert got[("sqlite3", "introspection.py", "sql-interpolation")] >= 3
    assert got[("sqlite3", "schema.py", "sql-interpolation")] >= 1
    # session keys such as SESSION_KEY = "_auth_user_id" are lookup keys, not secrets
    assert not any(rule == "hardcoded-secret" for (_, _, rule) in got)
    assert sum(got.values()) < 60


@pytest.mark.slow
def test_whole_stdlib_counts_stay_reasonable() -> None:
    """Every file of the standard library: no extractor error, and findings in bounds per rule (the
    rules that are about web frameworks, JWT or secrets must stay (almost) silent on it)."""
    got = extract_rows(STDLIB, select=SELECT, exclude=["site-packages"])
    assert [e for e in got["errors"] if e["extractor"] not in ("read", "parse")] == []
    per_rule = Counter(r["rule"] for r in got["security_findings"])
    for rule, (low, high) in {
        "eval-exec": (200, 500),
        "pickle-load": (200, 450),
        "os-command": (10, 40),
        "shell-true": (8, 30),
        "weak-hash": (8, 30),
        "hardcoded-secret": (1, 25),
        "sql-interpolation": (3, 20),
        "insecure-random": (1, 5),
    }.items():
        assert low <= per_rule[rule] <= high, (rule, per_rule[rule])
    for rule in (
        "yaml-load",
        "tls-verify-disabled",
        "jwt-no-verify",
        "flask-debug",
        "django-debug",
        "django-allowed-hosts",
        "csrf-exempt",
    ):
        assert per_rule[rule] == 0, (rule, per_rule[rule])
    assert len(got["sql_strings"]) > 400 and len(got["env_reads"]) > 100


def test_spans_count_characters_not_bytes(tmp_path: Path) -> None:
    got = run_snippets(tmp_path, {"m.py": 'def f(y):\n    s = "héllo wörld"; return eval(y)\n'})
    [row] = got["security_findings"]
    line = 'def f(y):\n    s = "héllo wörld"; return eval(y)\n'.splitlines()[1]
    assert (row["line"], row["col"], row["end_col"]) == (
        2,
        line.index("eval"),
        line.index("eval") + len("eval(y)"),
    )
