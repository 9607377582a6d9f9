"""The few call sites of a file that the security extractors look at, indexed once and shared.

``sql_strings``, ``env_reads`` and ``security_findings`` all start from calls with known final names
(``execute``, ``getenv``, ``loads``, ``md5``, ...). :func:`file_facts` indexes a file's calls by that
name in one pass over the calls the node index already holds, and keeps the result while the
:class:`~codequarry.source.SourceFile` lives, so the three extractors pay for it once per file.

Callees resolve through the file's imports with the core
:class:`~codequarry.python.resolve.Resolver` (the logic of the ``calls`` table), built
lazily and only for the head names these extractors ask about: ``from subprocess import run as r``
makes ``r(...)`` resolve to ``subprocess.run``, while a local ``def run`` resolves to the file's own
function.
"""

from __future__ import annotations

import ast
import weakref
from typing import Any

from codequarry.python.calls import dotted_parts
from codequarry.python.resolve import Resolver
from codequarry.python.scopes import module_name, scope_and_lambdas
from codequarry.source import SourceFile

#: the functions of ``random`` a secret must not come from (security_findings' weak-random rule)
RANDOM_FUNCS = (
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

#: final names of the calls any of the three extractors may look at (the index keeps no others)
WANTED = frozenset(
    {
        # sql_strings
        "execute",
        "executemany",
        "executescript",
        "exec_driver_sql",
        "text",
        "raw",
        "extra",
        "RawSQL",
        "read_sql",
        "read_sql_query",
        # env_reads
        "getenv",
        "getenvb",
        "get",
        "setdefault",
        "pop",
        "config",
        # security_findings
        "eval",
        "exec",
        "run",
        "call",
        "check_call",
        "check_output",
        "Popen",
        "getoutput",
        "getstatusoutput",
        "system",
        "popen",
        "load",
        "loads",
        "Unpickler",
        "load_all",
        "unsafe_load",
        "unsafe_load_all",
        "read_pickle",
        "post",
        "put",
        "patch",
        "delete",
        "head",
        "options",
        "request",
        "stream",
        "Client",
        "AsyncClient",
        "Session",
        "send",
        "md5",
        "sha1",
        "new",
        "decode",
        "open",
        "csrf_exempt",
        "method_decorator",
        "create_subprocess_shell",
        "popen2",
        "popen3",
        "popen4",
        *RANDOM_FUNCS,
    }
)

_current: list[FileFacts] = []  # the facts of the file being extracted (a worker extracts one at a time)


def file_facts(src: SourceFile) -> FileFacts:
    """The shared facts of ``src`` (computed on first use by whichever extractor comes first).

    One file's facts are kept, the current one's: extractors run file by file. The facts hold the
    file only weakly, and are dropped as soon as the file is (its last extractor done), so that its
    tree is freed at once, while still in the CPU's caches: freed only when the next file's facts
    replaced them, after the next parse, the teardown cost ~35% more (0.29 s against 0.21 s per
    900 standard-library files, docs/performance.md).
    """
    if _current and _current[0].src is src:
        return _current[0]
    facts = FileFacts(src)
    _current[:] = [facts]
    return facts


def _file_gone(ref: weakref.ref[SourceFile]) -> None:
    """The file of the current facts was freed: drop the facts (the nodes they hold) with it."""
    if _current and _current[0]._src is ref:
        _current.clear()


class FileFacts:
    """Imported top-level modules, wanted calls by final name, lazy resolution, scope names."""

    def __init__(self, src: SourceFile) -> None:
        # weakly: nothing the facts keep (resolver, memo) may hold the file either (see file_facts)
        self._src = weakref.ref(src, _file_gone)
        self.parent = src.parents.get
        roots: set[str] = set()
        bound: set[str] = set()
        renames: dict[str, str] = {}  # local name -> the name it was imported as: `from m import run as r`
        for stmt in src.nodes(ast.Import):
            for alias in stmt.names:
                top = alias.name.partition(".")[0]
                roots.add(top)
                bound.add(alias.asname or top)
        for stmt in src.nodes(ast.ImportFrom):
            if not stmt.level and stmt.module:
                roots.add(stmt.module.partition(".")[0])
            for alias in stmt.names:
                bound.add(alias.asname or alias.name)
                if alias.asname:
                    renames[alias.asname] = alias.name
        for stmt in src.tree.body:  # module-level aliases: `r = subprocess.run`
            if stmt.__class__ is ast.Assign and stmt.value.__class__ is ast.Attribute:
                for t in stmt.targets:
                    if t.__class__ is ast.Name:
                        renames[t.id] = stmt.value.attr
        #: top-level modules of the file's absolute imports, anywhere in the file
        self.roots = roots
        #: names the file's imports bind, in any scope
        self.bound = bound
        self.renames = renames
        by_name: dict[str, list[ast.Call]] = {}
        wanted = WANTED
        Attribute, Name = ast.Attribute, ast.Name
        for call in src.nodes(ast.Call):
            func = call.func
            cls = func.__class__
            if cls is Attribute:
                key = func.attr
            elif cls is Name:
                key = func.id
                if renames and key not in wanted:
                    key = renames.get(key, key)
            else:
                continue
            if key in wanted:
                got = by_name.get(key)
                if got is None:
                    by_name[key] = [call]
                else:
                    got.append(call)
        #: wanted calls by the name they end with (``os.path.join(...)`` -> ``join``), source order
        self.calls = by_name
        #: per-extractor results derived from these facts (e.g. the SQL sites, shared with the findings)
        self.memo: dict[str, Any] = {}
        self._resolver: Resolver | None = None
        self._heads: set[str] = set()
        self._scope_names: dict[Any, str] = {None: ""}

    @property
    def src(self) -> SourceFile:
        """The file these facts are of (alive for as long as an extractor works on it)."""
        src = self._src()
        if src is None:  # pragma: no cover - facts outliving their file are dropped with it
            raise RuntimeError("the facts' file was freed")
        return src

    def calls_named(self, *names: str) -> list[ast.Call]:
        """The indexed calls ending with any of ``names``, in source order."""
        out: list[ast.Call] = []
        for name in names:
            got = self.calls.get(name)
            if got:
                out.extend(got)
        if len(names) > 1:
            out.sort(key=_position)
        return out

    # -- scopes ---------------------------------------------------------------------------------------
    def context(self, node: Any) -> tuple[Any, list[Any] | None]:
        """(the def or class whose body evaluates ``node``, None for the module; the lambdas between)."""
        return scope_and_lambdas(self.parent, node)

    def scope_name(self, scope: Any) -> str:
        """The qualname of a scope node from :meth:`context` ('' for the module)."""
        got = self._scope_names.get(scope)
        if got is None:
            got = self._scope_names[scope] = self.src.qualname(scope)
        return got

    # -- resolution -----------------------------------------------------------------------------------
    def resolve(self, node: Any) -> str | None:
        """The fully qualified name a Name/Attribute chain refers to where it stands, else None."""
        parts = dotted_parts(node)
        if parts is None:
            return None
        head, rest = parts
        resolver = self._resolver
        if resolver is None or head not in self._heads:
            if resolver is not None:  # a second miss: take every name of the file, build once more
                self._heads.update(n.id for n in self.src.nodes(ast.Name))
            resolver = self._build_resolver(head)
        scope, lambdas = self.context(node)
        got = resolver.lookup(head, scope, lambdas)
        if got is not None and rest:
            return f"{got}.{rest}"
        return got

    def want(self, *heads: str) -> None:
        """Announce head names that :meth:`resolve` will be asked about besides the indexed calls'
        (a resolver built for other heads would otherwise be rebuilt once per new head)."""
        new = set(heads) - self._heads
        if new:
            if not self._heads:
                self._heads.update(self._call_heads())
            self._heads.update(new)
            self._resolver = None

    def _call_heads(self) -> set[str]:
        heads = set()
        for calls in self.calls.values():
            for call in calls:
                parts = dotted_parts(call.func)
                if parts is not None:
                    heads.add(parts[0])
        return heads

    def _build_resolver(self, extra: str) -> Resolver:
        heads = self._heads
        if not heads:
            heads.update(self._call_heads())
        heads.add(extra)
        self._resolver = Resolver(self.src, module_name(self.src), heads)
        return self._resolver

    def may_be_imported(self, call: ast.Call) -> bool:
        """Whether the callee's head name is bound by an import or a module-level alias: a cheap
        test before :meth:`callee` for rules that only care about functions of other modules."""
        func = call.func
        while func.__class__ is ast.Attribute:
            func = func.value
        return func.__class__ is ast.Name and (func.id in self.bound or func.id in self.renames)

    def callee(self, call: ast.Call) -> str | None:
        """The resolved callee of ``call`` (None when it is not a resolvable dotted name)."""
        return self.resolve(call.func)


def _position(node: Any) -> tuple[int, int]:
    return node.lineno, node.col_offset
