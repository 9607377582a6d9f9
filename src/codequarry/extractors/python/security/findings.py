"""Security findings: a documented rule set over one file's AST, the ``security_findings`` table.

Every rule is static and per file; callees resolve through the file's imports (see
:mod:`codequarry.extractors.python.security.callsites`), so ``from subprocess import run as r;
r(cmd, shell=True)`` fires and a local function named ``run`` does not. The SQL rule reads the
file's own ``sql_strings`` analysis (no cross-file step is needed). The rules, what fires and what
does not, are listed in ``docs/tables/security.md``; :data:`~.rules.RULES` is the same table in code.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.extractors.python.security.assigned import AssignmentRules, target_name
from codequarry.extractors.python.security.callsites import RANDOM_FUNCS, file_facts
from codequarry.extractors.python.security.rules import RULES
from codequarry.extractors.python.security.secrets import secret_word
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
_JWT_DECODE = frozenset({"jwt.decode", "jose.jwt.decode", "jwt.api_jwt.decode", "jwt.api_jws.decode"})
_CSRF_EXEMPT = frozenset({"django.views.decorators.csrf.csrf_exempt"})


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


class _Findings(AssignmentRules):
    """The call rules; the assignment rules come from :class:`AssignmentRules`."""

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
        for call in facts.calls_named(*RANDOM_FUNCS):
            if not facts.may_be_imported(call):
                continue
            target = facts.callee(call)
            if target is None or not target.startswith("random.") or target.count(".") != 1:
                continue
            why = None
            anc: Any = parent(call)
            while anc is not None and not isinstance(anc, ast.stmt):
                if anc.__class__ is ast.keyword and anc.arg and anc.arg != "key" and secret_word(anc.arg):
                    why = f"passed as {anc.arg}="
                    break
                anc = parent(anc)
            if why is None and anc is not None:
                cls = anc.__class__
                if cls is ast.Assign or cls is ast.AnnAssign or cls is ast.AugAssign:
                    targets = anc.targets if cls is ast.Assign else [anc.target]
                    for t in targets:
                        name = target_name(t)
                        if name and secret_word(name):
                            why = f"assigned to {name}"
                            break
            if why is None:
                holder: Any = facts.context(call)[0]
                while holder is not None and holder.__class__ not in FUNCTION_TYPES:
                    holder = facts.context(holder)[0]
                held_by = "" if holder is None else str(getattr(holder, "name", ""))
                if held_by and secret_word(held_by):
                    why = f"in {held_by}()"
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
