"""Calls the name-based resolution of ``call_graph`` leaves unresolved, answered by the points-to solver.

A call resolved by name (an import, a definition, ``self.m()`` in its class) keeps its row, with
confidence ``exact``, unless the solver knows better: a name bound to a def that a corpus decorator
replaced (``@deco def f`` where ``deco`` returns ``wrapper``) calls what the solver found instead. An unresolved one takes what the solver says its callee may be: one row per
target (``exact`` when there is one, ``possible`` when there are several), or stays unresolved with a
``reason``: the dynamic call it is (``getattr`` with a computed name, ``eval``), else ``no value known
for the callee``. A lambda is a function of the graph (``facts.lambda_names``: ``main.<lambda1>``,
``main.f.<locals>.<lambda1>``): a call of one has kind ``lambda`` and the lambda as its target
(``target_path`` / ``target_line`` where it is written), and the calls in a lambda's body are rows
from the lambda (``_in_lambdas``). A name outside the corpus by its text (kind ``external``) that the solver
finds only in the corpus (an import a script finds beside itself) takes the solver's targets.

Calls with no call expression are rows too, from the scope holding them (``_applications``): a
decorator applied, a function a builtin calls (``map(f, xs)``), and the methods Python calls for a
statement on an instance of the corpus (``for``: ``__iter__`` and ``__next__``; ``with``:
``__enter__`` and ``__exit__``; their async forms; ``raise Cls``: what calling ``Cls`` runs).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codequarry.extractors.python.callgraph import codec, solutions
from codequarry.extractors.python.callgraph.domain import CAP, Def, container_type

#: uses that are calls with no call expression of their own: a decorator applied, a function a
#: builtin calls (``map(f, xs)``: a row of that call)
_APPLIED = ("decorator", "callback", "iter", "with", "aiter", "awith", "raise")
#: of those, the ones that are no reference of their own (the value's use is one already)
_NOT_REFERENCES = ("callback", "iter", "with", "aiter", "awith", "raise")
_CORPUS = ("function", "method", "class")
#: objects of names outside the corpus (an outside module's name, instance, attribute)
_OUTSIDE = ("X", "XI", "XA")
_TARGET = ("kind", "target", "target_repo", "target_path", "target_module", "target_qualname", "target_line")
NO_VALUE = "no value known for the callee"
TOO_MANY = f"more than {CAP} possible values"


def refine(ctx: Any, index: Any, edges: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
    """``edges`` (with end positions) with unresolved calls replaced by the solver's targets, the
    ``references`` table, and the solver's answers per file (``callgraph_solutions``)."""
    facts = ctx.sql("SELECT repo, path, sha256, module, facts FROM callgraph_facts ORDER BY repo, path")
    by_repo: dict[str, list[tuple[str, str, str, str]]] = {}
    columns = (facts.column(c).to_pylist() for c in facts.column_names)
    for repo, path, sha, module, text in zip(*columns, strict=True):
        by_repo.setdefault(repo, []).append((path, module, text, sha))
    digests = {repo: solutions.digest((f[0], f[2]) for f in files) for repo, files in by_repo.items()}
    own = "callgraph_solutions" in ctx.outputs  # not so in a context made by hand (from_store)
    kept = solutions.stored(ctx.own("callgraph_solutions") if own else None, digests)
    refs = _Refs()
    spans = _lambdas(index, by_repo)
    applied: list[dict[str, Any]] = []  # call_graph rows of decorator applications
    sites: dict[tuple[Any, ...], tuple[list[Any], str | None]] = {}
    solved: list[dict[str, Any]] = []
    evaluations = repos_solved = repos_moved = 0
    for repo, files in by_repo.items():  # each repo is solved on its own (names across repos: by name)
        old = kept.get(repo, {})
        if len(old) == len(files) and all(old.get(p, {}).get("digest") == digests[repo] for p, *_ in files):
            found = [solutions.answers(old[path]) for path, *_ in files]
            # the answers are those of the same facts, but a file can change without changing its
            # facts (a comment): its row carries the file's sha256 of now, as a fresh run's would
            solved.extend({**old[path], "sha256": sha} for path, _, _, sha in files)
        else:
            found, n = _solved(repo, files, digests[repo], old, solved)
            if n is None:
                repos_moved += 1
            else:
                evaluations, repos_solved = evaluations + n, repos_solved + 1
        for (path, module, text, sha), (calls, uses) in zip(files, found, strict=True):
            for objs, reason, pos in calls:
                sites[(repo, path, *pos)] = (objs, reason)
            _references(index, uses, (repo, path, sha), refs)
            if any(use[1][2] in _APPLIED for use in uses):
                applied.extend(_applications(index, uses, (repo, path, sha, module), text))
    ctx.report("call_graph.evaluations", evaluations)
    ctx.report("call_graph.repos_solved", repos_solved)
    ctx.report("call_graph.repos_moved", repos_moved)
    table, references = _edges(index, edges, sites), refs.table()
    if applied:  # decorator applications: calls with no call expression, among the others by position
        extra = pa.Table.from_pylist(applied, schema=table.schema)
        table = pa.concat_tables([table, extra]).sort_by(
            [("repo", "ascending"), ("path", "ascending"), ("line", "ascending"), ("col", "ascending")]
        )
    return _in_lambdas(table, spans), references, pa.Table.from_pylist(solved, schema=solutions.SCHEMA)


def _lambdas(index: Any, by_repo: dict[str, list[tuple[str, str, str, str]]]) -> dict[Any, list[Any]]:
    """Each lambda of the facts as a definition in ``index.lambdas`` (a target), and (repo, path) ->
    the lambdas of the file: (body's start, body's end, qualname), innermost last among those that
    nest. Only the ``lambdas`` list of the facts text is read (not the whole text: that took 12% of
    the standard library's solve)."""
    spans: dict[Any, list[Any]] = {}
    read = json.JSONDecoder().raw_decode
    for repo, files in by_repo.items():
        for path, module, text, _sha in files:
            # a key (a quoted name then a colon) only a key can be: in the facts' strings a quote
            # is escaped
            at = text.find('"lambdas":[[')
            if at < 0:
                continue
            found = spans[(repo, path)] = []
            for qual, line, col, end_line, end_col, first in read(text, at + len('"lambdas":'))[0]:
                d = Def("lambda", repo, path, module, qual, first)
                index.lambdas.setdefault((repo, d.name), d)
                found.append(((line, col), (end_line, end_col), qual))
            found.sort(key=lambda s: (s[0], (-s[1][0], -s[1][1])))  # an outer lambda before one inside it
    return spans


def _in_lambdas(table: pa.Table, spans: dict[Any, list[Any]]) -> pa.Table:
    """Rows of calls written in a lambda's body have the lambda as their caller (``caller_scope`` its
    qualname), the innermost lambda whose body holds the call's start; the rest keep their caller."""
    if not spans or not table.num_rows:
        return table
    # only the rows of files with lambdas are read
    held = pc.is_in(table.column("path"), value_set=pa.array(sorted({p for _, p in spans}), pa.string()))
    rows = pc.indices_nonzero(pc.fill_null(held, False)).to_pylist()
    if not rows:
        return table
    some = table.take(pa.array(rows, pa.int64()))
    # lines a lambda's body covers, per file: the rows elsewhere are not read further
    covered = {key: {n for s, e, _ in found for n in range(s[0], e[0] + 1)} for key, found in spans.items()}
    near = [
        j
        for j, (repo, path, line) in enumerate(
            zip(*(some.column(c).to_pylist() for c in ("repo", "path", "line")), strict=True)
        )
        if line in covered.get((repo, path), ())
    ]
    if not near:
        return table
    some = some.take(pa.array(near, pa.int64()))
    rows = [rows[j] for j in near]
    columns = ("repo", "path", "line", "col", "caller", "caller_scope")
    changed: list[int] = []  # rows of ``table`` whose caller is a lambda
    new_callers: list[str] = []
    new_scopes: list[str] = []
    for j, (repo, path, line, col, caller, scope) in enumerate(
        zip(*(some.column(c).to_pylist() for c in columns), strict=True)
    ):
        pos = (line, col)
        inner = None
        for start, end, qual in spans[(repo, path)]:
            if start > pos:
                break
            if pos <= end:
                inner = qual  # a later one that holds it is nested in this one
        if inner is not None:
            module = caller[: len(caller) - len(scope)].rstrip(".") if scope else caller
            changed.append(rows[j])
            new_callers.append(f"{module}.{inner}" if module else inner)
            new_scopes.append(inner)
    if not changed:
        return table
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[changed] = True
    for name, values in (("caller", new_callers), ("caller_scope", new_scopes)):
        column = pc.replace_with_mask(
            table.column(name).combine_chunks(), pa.array(mask), pa.array(values, pa.string())
        )
        table = table.set_column(table.column_names.index(name), name, column)
    return table


def _solved(
    repo: str, files: list[tuple[str, str, str, str]], dig: str, old: dict[str, Any], out: list[Any]
) -> tuple[list[Any], int | None]:
    """Answers of a repo whose facts changed, and the evaluations that took (None: no solve, the
    stored answers were moved to the positions of now, since no file changed more than its positions);
    its ``callgraph_solutions`` rows go to ``out``."""
    moved = solutions.reshaped(files, old)
    if moved is not None:
        for (path, module, text, sha), (f, changed) in zip(files, moved, strict=True):
            if changed:
                keys = (dig, solutions.file_digest(module, text), old[path]["shape"])
                out.append(solutions.row(repo, path, sha, keys, f))
            else:  # its stored row, under the repo's digest of now
                out.append({**old[path], "sha256": sha, "digest": dig})
        return [f for f, _ in moved], None
    facts = [codec.decode(text) for _, _, text, _ in files]
    found, n = solutions.solve([(module, f) for (_, module, _, _), f in zip(files, facts, strict=True)])
    for (path, module, text, sha), f, answers in zip(files, facts, found, strict=True):
        keys = (dig, solutions.file_digest(module, text), solutions.shape(module, f))
        out.append(solutions.row(repo, path, sha, keys, answers))
    return found, n


def _edges(
    index: Any, edges: pa.Table, sites: dict[tuple[Any, ...], tuple[list[Any], str | None]]
) -> pa.Table:
    """The name-resolved ``edges`` refined by the solver's answers per call site. Column-wise: most
    rows stay as they are; a row the solver answers for is repeated once per target."""
    names = [n for n in edges.column_names if n not in ("end_line", "end_col")] + ["confidence", "reason"]
    if not edges.num_rows:
        return _empty(edges, names)
    cols = ("repo", "path", "line", "col", "end_line", "end_col", "kind", "target")
    take: list[int] = []  # the input row of each output row
    confidence: list[str | None] = []
    reasons: list[str | None] = []
    replaced: dict[int, tuple[Any, ...]] = {}  # output row -> its target columns

    def emit(i: int, conf: str | None, why: str | None, target: tuple[Any, ...] | None = None) -> None:
        if target is not None:
            replaced[len(take)] = target
        take.append(i)
        confidence.append(conf)
        reasons.append(why)

    memo: dict[tuple[Any, ...], tuple[Any, ...] | None] = {}  # (repo, object's key) -> its target

    def target_of(repo: str, obj: Any) -> tuple[Any, ...] | None:
        kind = obj[0]  # what _target reads of an object: its kind, name, and a method's or attribute's name
        key = (
            (repo, kind, obj[1], obj[2] if kind in ("LM", "XA", "BIM", "OB") else None)
            if len(obj) > 1
            else None
        )
        if key is None:
            return _target(index, repo, obj)
        got = memo.get(key, memo)
        if got is memo:
            got = memo[key] = _target(index, repo, obj)
        return got  # type: ignore[return-value]

    rows = zip(*(edges.column(c).to_pylist() for c in cols), strict=True)
    for i, (repo, path, line, col, end_line, end_col, kind, target) in enumerate(rows):
        site = sites.get((repo, path, line, col, end_line, end_col))
        if site is None or not (site[0] or site[1]):  # the solver found nothing here
            if kind == "external" or kind != "unresolved":
                emit(i, "exact", None)
            else:
                emit(i, None, NO_VALUE)
            continue
        objs, reason = site
        found = _dedupe([t for o in objs if (t := target_of(repo, o)) is not None])
        if (
            kind == "external"
            and found
            and all(t[0] in _CORPUS and o[0] not in _OUTSIDE for t in found for o in objs)
        ):
            kind = "unresolved"  # a name outside the corpus by its text, that the solver found inside only
        if kind == "external" or (kind != "unresolved" and (not found or target in {t[1] for t in found})):
            emit(i, "exact", None)
        elif not found:
            many = any(o[0] == "T" for o in objs)
            emit(i, None, reason or (TOO_MANY if many else NO_VALUE))
        else:  # a callee that may also be TOP (more than CAP things besides) is never exact
            one = len(found) == 1 and not any(o[0] == "T" for o in objs)
            for t in found:
                emit(i, "exact" if one else "possible", None, t)
    out = edges.take(pa.array(take, pa.int64()))
    if replaced:
        mask = [False] * len(take)
        for j in replaced:
            mask[j] = True
        for k, name in enumerate(_TARGET):
            values: list[Any] = [None] * len(take)
            for j, t in replaced.items():
                values[j] = t[k]
            column = out.column(name)
            new = pc.if_else(pa.array(mask), pa.array(values, column.type), column)
            out = out.set_column(out.column_names.index(name), name, new)
    out = out.append_column("confidence", pa.array(confidence, pa.string()))
    out = out.append_column("reason", pa.array(reasons, pa.string()))
    return out.select(names).cast(_schema(edges, names))


REF_SCHEMA = pa.schema(
    [
        pa.field("repo", pa.string()),
        pa.field("path", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("scope", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("target_kind", pa.string()),
        pa.field("target", pa.string()),
        pa.field("target_repo", pa.string()),
        pa.field("target_path", pa.string()),
        pa.field("target_line", pa.int64()),
        pa.field("confidence", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("col", pa.int64()),
    ]
)


def _references(index: Any, uses: list[Any], where: tuple[str, str, str], out: _Refs) -> None:
    """Reference rows of one file: each use that stands for a corpus function, class or module."""
    repo, path, sha = where
    memo = out.memo
    add = out.rows.append
    for objs, (line, col, kind, scope) in uses:
        if kind in _NOT_REFERENCES:  # the value's own use is a reference already
            continue
        targets: dict[str, tuple[Any, ...]] = {}
        for obj in objs:
            key = (repo, obj[0], obj[1]) if len(obj) > 1 else None
            target = memo.get(key, memo) if key is not None else None
            if target is memo:
                target = memo[key] = _ref_target(index, repo, obj)  # type: ignore[index]
            if target is not None:
                targets.setdefault(target[1], target)
        confidence = "exact" if len(targets) == 1 else "possible"
        for target in targets.values():
            add((repo, path, sha, scope, kind, *target, confidence, line, col))


def _applications(
    index: Any, uses: list[Any], where: tuple[str, str, str, str], text: str
) -> list[dict[str, Any]]:
    """``call_graph`` rows of the decorator applications of one file: ``@deco`` calls ``deco`` (and
    ``@deco(3)`` calls what ``deco(3)`` returns) from the scope holding the decorated def or class,
    once the def is made. Only decorators of the corpus are rows (not ``@property``, nor one from an
    outside package); their callee is written as ``@`` and the decorator's text."""
    repo, path, sha, module = where
    facts = codec.decode(text)
    # the decorator at each position (stored answers keep only the uses that found something), and
    # the callee of each call (a callback's row is one of its call's)
    written = {(r[0], r[1], r[2]): r[4] for r in facts["refs"] if r[2] in _APPLIED and r[2] != "callback"}
    callees = {(c[0], c[1]): c[4] for c in facts["calls"]}
    out = []
    for objs, (line, col, kind, scope) in uses:
        if kind == "callback" and (line, col) in callees:
            callee = _written(callees[(line, col)], facts["calls"])
        elif kind in _APPLIED and (line, col, kind) in written:
            e = written[(line, col, kind)]
            callee = (
                f"@{_written(e, facts['calls'])}"
                if kind == "decorator"
                else f"{_PROTOCOL_CALLEE[kind]} {_written(e[2], facts['calls'])}"
            )
        else:
            continue
        found = _dedupe(
            [t for o in objs if o[0] in ("F", "BM", "K", "I") and (t := _target(index, repo, o)) is not None]
        )
        found = [t for t in found if t[1] is not None]  # not a class with no __init__
        # one receiver's ``__iter__`` and ``__next__`` (``__enter__`` and ``__exit__``) all run
        names = [t[1].rpartition(".")[2] for t in found]
        one = (
            len(set(names)) == len(names) if kind in _PROTOCOL_CALLEE and kind != "raise" else len(found) == 1
        )
        for t in found:
            out.append(
                {
                    "repo": repo,
                    "path": path,
                    "sha256": sha,
                    "caller": f"{module}.{scope}" if scope else module,
                    "caller_scope": scope,
                    "callee": callee,
                    "resolved_name": None,
                    **dict(zip(_TARGET, t, strict=True)),
                    "line": line,
                    "col": col,
                    "confidence": "exact" if one else "possible",
                    "reason": None,
                }
            )
    return out


#: the callee written in a row of a call Python makes for a statement (``for ... in c``, ``raise E``)
_PROTOCOL_CALLEE = {
    "iter": "for ... in",
    "aiter": "async for ... in",
    "with": "with",
    "awith": "async with",
    "raise": "raise",
}


def _written(e: Any, calls: Any) -> str:
    """A decorator's expression as it was written, near enough (``app.route(...)``)."""
    if not e:
        return "?"
    if e[0] in ("v", "b", "m"):
        return str(e[1]).rpartition(":")[2]
    if e[0] == "a":
        return f"{_written(e[1], calls)}.{e[2]}"
    if e[0] == "o" and e[1]:  # a name's version, or all of its values (see facts.body)
        return _written(e[1][0], calls)
    if e[0] == "c" and e[1] < len(calls):
        return f"{_written(calls[e[1]][4], calls)}(...)"
    return "?"


def _ref_target(index: Any, repo: str, obj: Any) -> tuple[Any, ...] | None:
    """The target columns (kind, name, repo, path, line) of what a use stands for, if in the corpus."""
    if obj[0] in ("F", "BM", "K"):
        d = _def(index, repo, obj[1])
        return None if d is None else (d.kind, d.name, d.repo, d.path, d.line)
    if obj[0] == "M":
        return ("module", obj[1], repo, None, None)
    return None


class _Refs:
    """The ``references`` rows (in ``REF_SCHEMA``'s order) while they are found, and the target of
    each (repo, kind, name) of an object met."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.memo: dict[Any, Any] = {}

    def table(self) -> pa.Table:
        columns = list(zip(*self.rows, strict=True)) if self.rows else [() for _ in REF_SCHEMA]
        return pa.Table.from_arrays(
            [pa.array(c, f.type) for c, f in zip(columns, REF_SCHEMA, strict=True)], schema=REF_SCHEMA
        )


def _schema(edges: pa.Table, names: list[str]) -> pa.Schema:
    fields = [edges.schema.field(n) for n in names if n in edges.column_names]
    return pa.schema([*fields, pa.field("confidence", pa.string()), pa.field("reason", pa.string())])


def _empty(edges: pa.Table, names: list[str]) -> pa.Table:
    return _schema(edges, names).empty_table()


def _dedupe(targets: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    seen: dict[Any, tuple[Any, ...]] = {}
    for t in targets:
        seen.setdefault(t[1] if t[1] is not None else t, t)
    return list(seen.values())


def _target(index: Any, repo: str, obj: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The target columns of one abstract callee, or None when calling it names nothing."""
    kind = obj[0]
    if kind in ("F", "BM"):
        d = _def(index, repo, obj[1]) or index.lambdas.get((repo, obj[1]))
        return None if d is None else d.target()
    if kind == "K":
        d = _def(index, repo, obj[1])
        return index._called(d).target() if d is not None else None
    if kind == "I":
        d = _def(index, repo, obj[1])
        m = index.method(d, "__call__") if d is not None else None
        return m.target() if m is not None else None
    if kind == "X":  # named by name resolution already; through values the names mislead (a str's .split)
        return None
    if kind == "LM":
        return ("external", f"builtins.{container_type(obj[1])}.{obj[2]}", None, None, None, None, None)
    if kind == "XA":  # an attribute an external base class provides (outside.py)
        return ("external", f"{obj[1]}.{obj[2]}", None, None, None, None, None)
    if kind in ("BIM", "OB"):
        return ("external", f"builtins.{obj[1]}.{obj[2]}", None, None, None, None, None)
    if kind == "B":
        return ("external", f"builtins.{obj[1]}", None, None, None, None, None)
    return None


def _def(index: Any, repo: str, fq: str) -> Any:
    d = index.defs.get((repo, fq))
    if d is None:
        for r in index.repos:
            d = index.defs.get((r, fq))
            if d is not None:
                break
    return d
