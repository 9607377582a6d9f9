"""Security findings: a documented rule set over one file's AST, the ``security_findings`` table.

Every rule is static and per file; callees resolve through the file's imports (see
:mod:`codequarry.extractors.python.security.callsites`), so ``from subprocess import run as r;
r(cmd, shell=True)`` fires and a local function named ``run`` does not. The SQL rule reads the
file's own ``sql_strings`` analysis (no cross-file step is needed). The rules, what fires and what
does not, are listed in ``docs/tables/security.md``; :data:`RULES` is the same table in code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.security.callsites import FileFacts, file_facts, name_words
from codequarry.extractors.python.security.sqlstrings import sql_sites
from codequarry.python.calls import call_arg, dotted_parts, keyword
from codequarry.python.scopes import FUNCTION_TYPES
from codequarry.python.spans import span_getter
from codequarry.python.values import literal_str, storable
from codequarry.schema import dataset
from codequarry.source import SourceFile


@dataset("security_findings")
class SecurityFinding:
    """One row per rule match."""

    rule: str
    severity: str
    cwe: str
    message: str
    scope: str
    snippet: str
    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # high | medium | low (shell-true on a literal command is low)
    cwe: str
    title: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("eval-exec", "high", "CWE-95", "eval() or exec() of a non-literal"),
        Rule("shell-true", "high", "CWE-78", "subprocess call with shell=True"),
        Rule("os-command", "high", "CWE-78", "os.system / os.popen / getoutput of a non-literal command"),
        Rule("pickle-load", "medium", "CWE-502", "unpickling (pickle, marshal, dill, joblib, pandas, numpy)"),
        Rule("yaml-load", "medium", "CWE-502", "yaml.load without a safe loader"),
        Rule("tls-verify-disabled", "high", "CWE-295", "requests/httpx with verify=False"),
        Rule("weak-hash", "medium", "CWE-328", "MD5 or SHA-1 not marked usedforsecurity=False"),
        Rule(
            "insecure-random", "medium", "CWE-338", "random module used for a token, password, key, salt..."
        ),
        Rule("hardcoded-secret", "medium", "CWE-798", "string literal assigned to a secret-looking name"),
        Rule("jwt-no-verify", "high", "CWE-347", "JWT decoded without verifying its signature"),
        Rule("flask-debug", "high", "CWE-489", "Flask app run with debug=True"),
        Rule("django-debug", "medium", "CWE-489", "DEBUG = True in Django settings"),
        Rule("django-allowed-hosts", "medium", "CWE-183", "ALLOWED_HOSTS accepts any host ('*')"),
        Rule("csrf-exempt", "medium", "CWE-352", "view exempted from CSRF protection"),
        Rule("sql-interpolation", "high", "CWE-89", "SQL built from interpolated values reaches a sink"),
    )
}

_MAX_SNIPPET = 200
_SUBPROCESS = frozenset(
    {
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.Popen",
    }
)
_OS_COMMAND = frozenset(
    {
        "os.system",
        "os.popen",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "commands.getoutput",
        "commands.getstatusoutput",
        "asyncio.create_subprocess_shell",
        "popen2.popen2",
        "popen2.popen3",
        "popen2.popen4",
    }
)
_PICKLE_MODULES = frozenset({"pickle", "_pickle", "cPickle", "dill", "cloudpickle"})
_UNPICKLE = frozenset(
    {"pandas.read_pickle", "joblib.load", "marshal.load", "marshal.loads", "shelve.open", "jsonpickle.decode"}
)
_SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})
_HTTP_METHODS = (
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "head",
    "options",
    "request",
    "stream",
    "send",
    "Client",
    "AsyncClient",
    "Session",
)
_WEAK_HASHES = frozenset({"md5", "sha1", "md4", "md2", "sha-1"})
_RANDOM_FUNCS = (
    "random",
    "randint",
    "randrange",
    "choice",
    "choices",
    "sample",
    "shuffle",
    "getrandbits",
    "uniform",
    "randbytes",
    "triangular",
)
_JWT_DECODE = frozenset({"jwt.decode", "jose.jwt.decode", "jwt.api_jwt.decode", "jwt.api_jws.decode"})
_CSRF_EXEMPT = frozenset({"django.views.decorators.csrf.csrf_exempt"})
_SETTINGS_NAMES = frozenset(
    {
        "INSTALLED_APPS",
        "ROOT_URLCONF",
        "MIDDLEWARE",
        "MIDDLEWARE_CLASSES",
        "DATABASES",
        "SECRET_KEY",
        "WSGI_APPLICATION",
        "ALLOWED_HOSTS",
    }
)


@file_extractor("python.security.findings", version=1, needs=["ast"], outputs=[SecurityFinding])
def security_findings(src: SourceFile, out: Any) -> None:
    """Security findings of a documented rule set (eval, shell=True, pickle, yaml, secrets, SQL, ...)."""
    facts = file_facts(src)
    found = _Findings(src, facts)
    roots = facts.roots
    found.eval_exec()
    if roots & {"subprocess", "os", "commands", "asyncio", "popen2"}:
        found.commands()
    if roots & {
        "pickle",
        "_pickle",
        "cPickle",
        "dill",
        "cloudpickle",
        "marshal",
        "pandas",
        "joblib",
        "shelve",
        "numpy",
        "jsonpickle",
    }:
        found.unpickling()
    if "yaml" in roots:
        found.yaml_load()
    if "requests" in roots or "httpx" in roots:
        found.tls_verify()
    if "hashlib" in roots:
        found.weak_hashes()
    if "random" in roots:
        found.insecure_random()
    if "jwt" in roots or "jose" in roots:
        found.jwt_decode()
    if "flask" in roots:
        found.flask_debug()
    if roots & {"django", "flask", "flask_wtf"}:
        found.csrf_exempt()
    found.assignments()
    found.sql()
    if not found.rows:
        return
    found.rows.sort(key=lambda r: (r[1].lineno, r[1].col_offset, r[0]))
    span = span_getter(src)
    add = out.security_findings.add
    for rule_id, node, severity, message, snippet in found.rows:
        rule = RULES[rule_id]
        line, col, end_line, end_col = span(node)
        scope, _ = facts.context(node)
        add(
            rule=rule_id,
            severity=severity or rule.severity,
            cwe=rule.cwe,
            message=storable(message),
            scope=facts.scope_name(scope),
            snippet=storable(snippet) if snippet is not None else src.segment(node, _MAX_SNIPPET),
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


class _Findings:
    def __init__(self, src: SourceFile, facts: FileFacts) -> None:
        self.src = src
        self.facts = facts
        self.seg = src.segment
        self.rows: list[tuple[str, Any, str | None, str, str | None]] = []

    def _add(
        self, rule: str, node: Any, message: str, severity: str | None = None, snippet: str | None = None
    ) -> None:
        self.rows.append((rule, node, severity, message, snippet))

    def _piece(self, node: Any) -> str:
        return self.seg(node, 60)

    # -- code execution -------------------------------------------------------------------------------
    def eval_exec(self) -> None:
        facts = self.facts
        for call in facts.calls_named("eval", "exec"):
            if call.func.__class__ is not ast.Name:
                continue
            target = facts.callee(call)
            if target not in ("builtins.eval", "builtins.exec"):
                continue
            arg = call_arg(call, 0, "source")
            if arg is None or arg.__class__ is ast.Constant:
                continue
            self._add("eval-exec", call, f"{target[9:]}() of a non-literal: {self._piece(arg)}")

    def commands(self) -> None:
        facts = self.facts
        for call in facts.calls_named("run", "call", "check_call", "check_output", "Popen"):
            shell = keyword(call, "shell")
            if shell is None or shell.__class__ is not ast.Constant or not shell.value:
                continue
            target = facts.callee(call)
            if target not in _SUBPROCESS:
                continue
            cmd = call_arg(call, 0, "args")
            literal = cmd is not None and _is_literal_command(cmd)
            what = (
                "a literal command"
                if literal
                else f"a non-literal command: {self._piece(cmd)}"
                if cmd is not None
                else "a command"
            )
            self._add("shell-true", call, f"{target}(shell=True) runs {what}", "low" if literal else None)
        for call in facts.calls_named(
            "system",
            "popen",
            "getoutput",
            "getstatusoutput",
            "create_subprocess_shell",
            "popen2",
            "popen3",
            "popen4",
        ):
            cmd = call_arg(call, 0, "command", "cmd")
            if cmd is None or _is_literal_command(cmd):
                continue
            target = facts.callee(call)
            if target not in _OS_COMMAND:
                continue
            self._add("os-command", call, f"{target}() runs a non-literal shell command: {self._piece(cmd)}")

    # -- deserialization ------------------------------------------------------------------------------
    def unpickling(self) -> None:
        facts = self.facts
        for call in facts.calls_named("load", "loads", "Unpickler", "read_pickle", "open", "decode"):
            if not facts.may_be_imported(call):
                continue
            target = facts.callee(call)
            if target is None:
                continue
            module, _, name = target.rpartition(".")
            if (module in _PICKLE_MODULES and name in ("load", "loads", "Unpickler")) or target in _UNPICKLE:
                self._add(
                    "pickle-load", call, f"{target}() deserializes with pickle: unsafe on untrusted data"
                )
            elif target == "numpy.load":
                allow = keyword(call, "allow_pickle")
                if allow is not None and allow.__class__ is ast.Constant and allow.value:
                    self._add("pickle-load", call, "numpy.load(allow_pickle=True) unpickles object arrays")

    def yaml_load(self) -> None:
        facts = self.facts
        for call in facts.calls_named("load", "load_all", "unsafe_load", "unsafe_load_all"):
            if not facts.may_be_imported(call):
                continue
            target = facts.callee(call)
            if target in ("yaml.unsafe_load", "yaml.unsafe_load_all"):
                self._add("yaml-load", call, f"{target}() constructs arbitrary Python objects")
                continue
            if target not in ("yaml.load", "yaml.load_all"):
                continue
            loader = call_arg(call, 1, "Loader")
            if loader is None:
                self._add("yaml-load", call, f"{target}() without Loader= (use yaml.safe_load)")
                continue
            name = loader.attr if loader.__class__ is ast.Attribute else getattr(loader, "id", None)
            if name not in _SAFE_YAML_LOADERS:
                self._add(
                    "yaml-load", call, f"{target}() with Loader={self._piece(loader)}, not a safe loader"
                )

    # -- TLS ------------------------------------------------------------------------------------------
    def tls_verify(self) -> None:
        facts = self.facts
        for call in facts.calls_named(*_HTTP_METHODS):
            verify = keyword(call, "verify")
            if verify is None or verify.__class__ is not ast.Constant or verify.value is not False:
                continue
            target = facts.callee(call)
            if target is not None and not target.startswith(("requests.", "httpx.")):
                head = dotted_parts(call.func)
                if head is not None and head[0] in facts.bound:  # a function of some other imported module
                    continue
            self._add(
                "tls-verify-disabled",
                call,
                f"{target or self.seg(call.func, 60)}(verify=False) skips TLS certificate checks",
            )
        for stmt in self.src.nodes(ast.Assign):
            value = stmt.value
            if (
                value.__class__ is ast.Constant
                and value.value is False
                and any(t.__class__ is ast.Attribute and t.attr == "verify" for t in stmt.targets)
            ):
                self._add("tls-verify-disabled", stmt, "session.verify = False skips TLS certificate checks")

    # -- hashes and randomness ------------------------------------------------------------------------
    def weak_hashes(self) -> None:
        facts = self.facts
        for call in facts.calls_named("md5", "sha1", "new"):
            if not facts.may_be_imported(call):
                continue
            target = facts.callee(call)
            if target in ("hashlib.md5", "hashlib.sha1"):
                algo = target[8:]
            elif target == "hashlib.new":
                name = literal_str(call_arg(call, 0, "name") or ast.Constant(None))
                if name is None or name.lower() not in _WEAK_HASHES:
                    continue
                algo = name.lower()
            else:
                continue
            flag = keyword(call, "usedforsecurity")
            if flag is not None and not (flag.__class__ is ast.Constant and flag.value):
                continue  # usedforsecurity=False (or computed): declared non-security use
            self._add(
                "weak-hash",
                call,
                f"{algo} is broken for security; pass usedforsecurity=False if it "
                "is not used for security, else use sha256 or better",
            )

    def insecure_random(self) -> None:
        facts = self.facts
        parent = facts.parent
        for call in facts.calls_named(*_RANDOM_FUNCS):
            if not facts.may_be_imported(call):
                continue
            target = facts.callee(call)
            if target is None or not target.startswith("random.") or target.count(".") != 1:
                continue
            why = None
            anc: Any = parent(call)
            while anc is not None and not isinstance(anc, ast.stmt):
                if anc.__class__ is ast.keyword and anc.arg and anc.arg != "key" and _secret_word(anc.arg):
                    why = f"passed as {anc.arg}="
                    break
                anc = parent(anc)
            if why is None and anc is not None:
                cls = anc.__class__
                if cls is ast.Assign or cls is ast.AnnAssign or cls is ast.AugAssign:
                    targets = anc.targets if cls is ast.Assign else [anc.target]
                    for t in targets:
                        name = _target_name(t)
                        if name and _secret_word(name):
                            why = f"assigned to {name}"
                            break
            if why is None:
                scope: Any
                scope, _ = facts.context(call)
                while scope is not None and scope.__class__ not in FUNCTION_TYPES:
                    scope = facts.context(scope)[0]
                if scope is not None and _secret_word(scope.name):
                    why = f"in {scope.name}()"
            if why is not None:
                self._add(
                    "insecure-random", call, f"{target}() is predictable; {why}: use the secrets module"
                )

    # -- JWT ------------------------------------------------------------------------------------------
    def jwt_decode(self) -> None:
        facts = self.facts
        for call in facts.calls_named("decode"):
            if not facts.may_be_imported(call):
                continue
            target = facts.callee(call)
            if target not in _JWT_DECODE:
                continue
            why = None
            verify = keyword(call, "verify")
            if verify is not None and verify.__class__ is ast.Constant and verify.value is False:
                why = "verify=False"
            options = keyword(call, "options")
            if why is None and options is not None and options.__class__ is ast.Dict:
                for k, v in zip(options.keys, options.values, strict=True):
                    if (
                        k is not None
                        and literal_str(k) in ("verify_signature", "verify")
                        and v.__class__ is ast.Constant
                        and v.value is False
                    ):
                        why = f"options={{{self.seg(k)}: False}}"
            algorithms = keyword(call, "algorithms")
            if (
                why is None
                and algorithms is not None
                and algorithms.__class__ in (ast.List, ast.Tuple)
                and any((literal_str(e) or "").lower() == "none" for e in algorithms.elts)
            ):
                why = "the 'none' algorithm accepted"
            if why is not None:
                self._add("jwt-no-verify", call, f"{target}() with {why}: the signature is not checked")

    # -- web frameworks -------------------------------------------------------------------------------
    def flask_debug(self) -> None:
        for call in self.facts.calls_named("run"):
            if call.func.__class__ is not ast.Attribute:
                continue
            debug = keyword(call, "debug")
            if debug is not None and debug.__class__ is ast.Constant and debug.value is True:
                self._add(
                    "flask-debug", call, "Flask app run with debug=True: the debugger allows code execution"
                )

    def csrf_exempt(self) -> None:
        facts = self.facts
        for call in facts.calls_named("csrf_exempt"):
            if facts.callee(call) in _CSRF_EXEMPT:
                self._add(
                    "csrf-exempt",
                    call,
                    f"csrf_exempt({self._piece(call.args[0]) if call.args else ''}) "
                    "turns off CSRF protection",
                )
        for call in facts.calls_named("method_decorator"):
            if call.args and facts.resolve(call.args[0]) in _CSRF_EXEMPT:
                self._add("csrf-exempt", call, "method_decorator(csrf_exempt) turns off CSRF protection")
        facts.want("csrf_exempt")
        for node in self.src.nodes(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            for dec in node.decorator_list:
                cls = dec.__class__
                if cls is ast.Name:
                    if dec.id == "csrf_exempt" and facts.resolve(dec) in _CSRF_EXEMPT:
                        self._add("csrf-exempt", dec, f"@csrf_exempt on {node.name}: no CSRF protection")
                elif cls is ast.Attribute:
                    if dec.attr == "csrf_exempt" and facts.resolve(dec) in _CSRF_EXEMPT:
                        self._add("csrf-exempt", dec, f"@csrf_exempt on {node.name}: no CSRF protection")
                    elif dec.attr == "exempt" and "csrf" in self.seg(dec.value, 60).lower():
                        self._add(
                            "csrf-exempt", dec, f"@{self.seg(dec, 60)} on {node.name}: no CSRF protection"
                        )

    # -- assignments: secrets, settings ---------------------------------------------------------------
    def assignments(self) -> None:
        src = self.src
        Constant, Name, str_ = ast.Constant, ast.Name, str
        module = src.tree
        settings_checked: bool | None = None
        for stmt in src.nodes(ast.Assign, ast.AnnAssign):
            value = stmt.value
            if value is None:
                continue
            vcls = value.__class__
            if vcls is Constant:
                v = value.value
                targets = stmt.targets if stmt.__class__ is ast.Assign else (stmt.target,)
                if v.__class__ is str_:
                    for t in targets:
                        name = _target_name(t)
                        if name is not None and _secret_name(name) and _secret_value(v, name):
                            self._secret(stmt, name, v)
                elif (
                    v is True
                    and any(t.__class__ is Name and t.id == "DEBUG" for t in targets)
                    and self.facts.context(stmt)[0] is None
                ):
                    if settings_checked is None:
                        settings_checked = self._is_settings()
                    if settings_checked:
                        self._add(
                            "django-debug",
                            stmt,
                            "DEBUG = True in Django settings: tracebacks and settings are shown to anyone",
                        )
            elif vcls in (ast.List, ast.Tuple) and self.facts.parent(stmt) is module:
                targets = stmt.targets if stmt.__class__ is ast.Assign else (stmt.target,)
                if any(t.__class__ is Name and t.id == "ALLOWED_HOSTS" for t in targets):
                    self._allowed_hosts(stmt, value)
        for stmt in src.nodes(ast.AugAssign):
            if (
                stmt.target.__class__ is Name
                and stmt.target.id == "ALLOWED_HOSTS"
                and stmt.value.__class__ in (ast.List, ast.Tuple)
                and self.facts.parent(stmt) is module
            ):
                self._allowed_hosts(stmt, stmt.value)
        for kw in src.nodes(ast.keyword):
            value = kw.value
            if (
                value.__class__ is Constant
                and value.value.__class__ is str_
                and kw.arg is not None
                and _secret_name(kw.arg)
                and _secret_value(value.value, kw.arg)
            ):
                self._secret(kw, kw.arg, value.value)
        for d in src.nodes(ast.Dict):
            for k, value in zip(d.keys, d.values, strict=True):
                if (
                    value.__class__ is Constant
                    and value.value.__class__ is str_
                    and k is not None
                    and k.__class__ is Constant
                    and k.value.__class__ is str_
                    and _secret_name(k.value)
                    and _secret_value(value.value, k.value)
                ):
                    self._secret(value, k.value, value.value)
        for args in src.nodes(ast.arguments):
            defaults = args.defaults
            if defaults:
                params = [*args.posonlyargs, *args.args][-len(defaults) :]
                for p, value in zip(params, defaults, strict=True):
                    if (
                        value.__class__ is Constant
                        and value.value.__class__ is str_
                        and _secret_name(p.arg)
                        and _secret_value(value.value, p.arg)
                    ):
                        self._secret(value, p.arg, value.value)
            for p, value in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                if (
                    value is not None
                    and value.__class__ is Constant
                    and value.value.__class__ is str_
                    and _secret_name(p.arg)
                    and _secret_value(value.value, p.arg)
                ):
                    self._secret(value, p.arg, value.value)

    def _secret(self, node: Any, name: str, value: str) -> None:
        masked = value[:2] + "*" * min(len(value) - 2, 6)
        self._add(
            "hardcoded-secret",
            node,
            f"hardcoded secret in {name} ({len(value)} characters)",
            snippet=f"{name} = {masked!r}",
        )

    def _allowed_hosts(self, stmt: Any, value: Any) -> None:
        if any(literal_str(e) == "*" for e in value.elts):
            self._add("django-allowed-hosts", stmt, "ALLOWED_HOSTS contains '*': any Host header is accepted")

    def _is_settings(self) -> bool:
        """A Django settings module: its path says so, or it sets names only settings set."""
        if "settings" in self.src.path.lower():
            return True
        for stmt in self.src.tree.body:
            if stmt.__class__ is ast.Assign:
                for t in stmt.targets:
                    if t.__class__ is ast.Name and t.id in _SETTINGS_NAMES:
                        return True
        return False

    # -- SQL --------------------------------------------------------------------------------------------
    def sql(self) -> None:
        for site in sql_sites(self.src):
            built = site.built
            if not built.interpolated or not site.looks_like_sql:
                continue
            how = ", ".join(sorted(built.techniques)) or built.build
            pieces = ", ".join(built.interpolated[:3]) + (", ..." if len(built.interpolated) > 3 else "")
            self._add(
                "sql-interpolation",
                site.call,
                f"SQL built by {how} reaches {site.sink}(): interpolates {pieces}",
            )


# -- heuristics -----------------------------------------------------------------------------------------


def _is_literal_command(node: Any) -> bool:
    """A str constant, or a list/tuple of str constants (an argv written out)."""
    if node.__class__ is ast.Constant:
        return True
    if node.__class__ in (ast.List, ast.Tuple):
        return all(e.__class__ is ast.Constant for e in node.elts)
    return False


def _target_name(t: Any) -> str | None:
    """The name an assignment target binds: ``x``, ``self.x`` -> x, ``d["x"]`` -> x."""
    cls = t.__class__
    if cls is ast.Name:
        return t.id
    if cls is ast.Attribute:
        return t.attr
    if cls is ast.Subscript:
        return literal_str(t.slice)
    return None


#: words that make a name secret-looking on their own
_SECRET_WORDS = frozenset(
    {
        "secret",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "token",
        "apikey",
        "secretkey",
        "accesskey",
        "privatekey",
        "authkey",
    }
)
#: qualifiers that make "key" secret-looking (api_key, private_key, ...)
_KEY_QUALIFIERS = frozenset(
    {
        "api",
        "private",
        "access",
        "auth",
        "signing",
        "encryption",
        "secret",
        "master",
        "client",
        "license",
        "app",
    }
)
#: last words that make a name a label, not a value: PASSWORD_FIELD, TOKEN_URL, SECRET_KEY_NAME ...
_LABEL_WORDS = frozenset(
    {
        "field",
        "fields",
        "name",
        "names",
        "header",
        "headers",
        "url",
        "urls",
        "uri",
        "endpoint",
        "path",
        "paths",
        "file",
        "files",
        "filename",
        "dir",
        "env",
        "var",
        "variable",
        "param",
        "parameter",
        "prefix",
        "suffix",
        "type",
        "types",
        "kind",
        "length",
        "len",
        "min",
        "max",
        "size",
        "format",
        "fmt",
        "pattern",
        "re",
        "regex",
        "message",
        "msg",
        "label",
        "help",
        "text",
        "template",
        "id",
        "ids",
        "attr",
        "attribute",
        "column",
        "col",
        "mode",
        "policy",
        "hasher",
        "hashers",
        "validator",
        "validators",
        "chars",
        "char",
        "alphabet",
        "charset",
        "encoding",
        "algorithm",
        "algorithms",
        "algo",
        "scheme",
        "style",
        "class",
        "method",
        "placeholder",
        "hint",
        "prompt",
        "error",
        "errors",
        "title",
        "description",
        "desc",
        "lookup",
        "query",
        "widget",
        "option",
        "options",
        "flag",
        "flags",
        "cookie",
        "location",
        "storage",
        "backend",
        "backends",
        "view",
        "form",
        "input",
        "str",
        "string",
        "separator",
        "sep",
        "delimiter",
        "marker",
        "tag",
        "source",
        "index",
        "count",
        "timeout",
        "expiry",
        "expire",
        "expires",
        "age",
        "lifetime",
        "ttl",
        "version",
        "command",
        "cmd",
        "url_name",
        "route",
        "reset",
        "hash",
        "question",
        "class_name",
        "module",
        "handler",
        "callback",
        "func",
        "function",
        "keyword",
        "state",
        "status",
        "enabled",
        "required",
        "changed",
        "set",
    }
)
#: names used for tokens of a tokenizer or parser (a token's text is not a secret)
_TOKEN_PARSE = frozenset({"tok", "toktype", "tokentype", "token_type", "tokname"})


@lru_cache(maxsize=16384)
def _secret_name(name: str) -> bool:
    """Whether a variable, attribute, keyword or dict key name looks like it holds a credential."""
    words = name_words(name)
    if not words or words[-1] in _LABEL_WORDS or name.lower() in _TOKEN_PARSE:
        return False
    for i, w in enumerate(words):
        if w in _SECRET_WORDS:
            return True
        if w == "key" and i and words[i - 1] in _KEY_QUALIFIERS:
            return True
    return False


@lru_cache(maxsize=16384)
def _secret_word(name: str) -> bool:
    """The test of insecure-random: a word token, secret, password, nonce, salt, otp, csrf, pin, iv...,
    or a qualified key (``api_key``, ``secretKey``; a bare ``key`` is a dict or sort key)."""
    words = name_words(name)
    for i, w in enumerate(words):
        if w in _RANDOM_WORDS or (w == "key" and i and words[i - 1] in _KEY_QUALIFIERS):
            return True
    return False


_RANDOM_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "password",
        "passwd",
        "pwd",
        "nonce",
        "salt",
        "otp",
        "csrf",
        "apikey",
        "secretkey",
        "privatekey",
        "accesskey",
        "authkey",
        "passphrase",
        "pin",
        "iv",
    }
)

_PLACEHOLDER = re.compile(
    r"""^(?:
        [xX*.\-_#?0]+                      # xxxx, ****, ----, 0000
      | <[^>]*>                            # <your-token>
      | \$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*     # ${TOKEN}, $TOKEN
      | \{\{[^}]*\}\}|\{[^}]*\}            # {{ token }}, {token}
      | %\([^)]*\)[sd]|%s                  # %(password)s
      | (?:change|replace)[-_ ]?(?:me|it|this)|todo|fixme|tbd|none|null|nil|undefined|placeholder
      | dummy|example|sample|redacted|hidden|notset|not[-_ ]set|unset|default|empty|yes|no|true|false|on|off
      | test|testing|foo|bar|baz|foobar|fake|mock|secret|password
      | __\w+__                            # __PLACEHOLDER__
      | .*\*{3,}.*                          # masked: ":****"
      | your[-_ ].*|my[-_ ].*|insert[-_ ].*|enter[-_ ].*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_URL_OR_PATH = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^@]*|/|\./|\.\./|~/)", re.IGNORECASE)


def _secret_value(value: str, name: str) -> bool:
    """Whether a string literal assigned to a secret-looking ``name`` may be a real secret."""
    v = value.strip()
    if (
        len(v) < 3
        or any(c.isspace() for c in v)
        or _PLACEHOLDER.match(v)
        or _URL_OR_PATH.match(v)
        or _REGEX.search(v)
    ):
        return False
    # the value names a field rather than filling it: "password", "X-Auth-Token", "set-password"
    if any(w in _NAMING_WORDS for w in _value_words(v)):
        return False
    # a name matched only through "key" (API_KEY, PRIVATE_KEY) holding a lower-case identifier is a
    # lookup key, not key material: SESSION_KEY = "_auth_user_id"
    words = name_words(name)
    if _IDENTIFIER.match(v) and not any(w in _SECRET_WORDS for w in words):
        return False
    # a name matched only through "token" holds a marker or a grammar token unless the value looks
    # generated: TOKEN = "relationship" and _DEFAULT_TOKEN = "_sa_default" are not credentials
    return any(w in _CREDENTIAL_WORDS for w in words) or (len(v) >= 8 and any(c.isdigit() for c in v))


_NAMING_WORDS = _SECRET_WORDS | {"key", "auth", "credential", "credentials", "csrftoken"}
_IDENTIFIER = re.compile(r"_*[a-z][a-z0-9_]*$")
#: words that name a credential a person chose (any value counts), unlike generated tokens and keys
_CREDENTIAL_WORDS = frozenset({"secret", "password", "passwd", "pwd", "passphrase", "secretkey"})
#: a regular expression, not a secret: character classes with quantifiers, groups, escapes, anchors
_REGEX = re.compile(r"\[[^\]]*\][+*?{]|\(\?|\\[dswbDSWB]|^\^|\$$")
_VALUE_SPLIT = re.compile(r"[^A-Za-z0-9]+")


def _value_words(value: str) -> list[str]:
    words: list[str] = []
    for part in _VALUE_SPLIT.split(value):
        if part:
            words.extend(name_words(part) if len(part) < 64 else (part.lower(),))
    return words
