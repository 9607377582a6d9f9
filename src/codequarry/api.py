"""Declaring extractors and operations.

A file extractor is a function of one :class:`~codequarry.source.SourceFile` that appends rows to the
buffers of the datasets it declares. It names the parse products it needs, so that a file is parsed
at most once per parser, and only if some selected extractor needs that parser::

    import ast
    from codequarry import dataset, file_extractor, Outputs, SourceFile

    @dataset("acme_env_reads")
    class EnvRead:
        name: str
        line: int
        default: str | None

    @file_extractor("acme.env.reads", version=1, needs=["ast"], outputs=[EnvRead])
    def env_reads(src: SourceFile, out: Outputs) -> None:
        for call in src.nodes(ast.Call):
            if src.dotted(call.func) in ("os.getenv", "os.environ.get") and call.args:
                arg = call.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out.acme_env_reads.add(name=arg.value, line=call.lineno, default=None)

Load it with ``quarry extract . --plugin my_module`` (a module on the path or in the current
folder), or from an installed package's entry point in the group ``codequarry.extractors``. A
dataset name is global: it must not clash with a built-in one (``env_reads`` is built in, hence the
``acme_`` prefix), or the run stops before reading any file, naming both producers.

Rules an extractor follows:

- never walk the tree itself: ``src.nodes(ast.Call, ...)`` serves every node of the given types from
  the one traversal the file gets, ``src.parent(node)`` its parent;
- never execute or import anything from the file;
- write only the datasets it declares; the provenance columns (repo, path, sha256) are filled in;
- raise freely: an exception costs only this extractor's rows for this file and becomes an ``errors``
  row; the run goes on. ``out.error(kind, message, line=...)`` records a problem and keeps the rows.

Bump ``version`` whenever the rows an extractor produces change.

Typing: ``out`` is an :class:`Outputs`; each declared dataset is a :class:`~codequarry.schema.RowBuffer`
attribute of it. mypy sees a ``@dataset`` class as the ``DatasetSpec`` it becomes once the plugin is
enabled (``[tool.mypy] plugins = ["codequarry.mypy_plugin"]``); see :mod:`codequarry.mypy_plugin`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from codequarry import generated
from codequarry.errors import DeclarationError, did_you_mean
from codequarry.schema import DatasetSpec, RowBuffer

if TYPE_CHECKING:
    from codequarry.source import SourceFile

#: parse products a file extractor may ask for; each is computed lazily, once per file
PARSE_PRODUCTS = ("text", "ast", "symtable", "bytecode", "cst", "tokens")
#: a parse product's revision, bumped when the same bytes can give a different product: ``ast`` 2 is
#: the fallback parser of syntax newer than the interpreter (files that were syntax errors now have a
#: tree). Incremental runs compare :func:`effective_version`, so every extractor that needs a revised
#: product runs again once on every file, and no store keeps facts from the old product.
PRODUCT_REVISIONS: dict[str, int] = {"ast": 2}


#: added to the recorded version of an extractor that skips minified build outputs (generated.py):
#: its rows differ from a run with ``--include-generated``, whose version is the extractor's own
#: (the rows every run made before minified files were recognised), so switching the option re-runs
#: it, and a store from before the change drops the rows of minified files at its next run
GENERATED_SKIPPED = 1 << 20


def effective_version(ex: FileExtractor) -> int:
    """The version incremental runs record and compare: the extractor's own version, plus 1000 per
    revision of each product it needs (``version=1`` needing ``ast`` revision 2 is 1001), plus
    :data:`GENERATED_SKIPPED` when it skips minified build outputs."""
    version = ex.version + 1000 * sum(PRODUCT_REVISIONS.get(p, 1) - 1 for p in ex.needs)
    return version + GENERATED_SKIPPED if ex.skips_generated else version


#: the function a file extractor wraps: rows of one file into the buffers of ``out``
ExtractorFunc = Callable[["SourceFile", "Outputs"], None]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True, eq=False)
class FileExtractor:
    """A declared per-file extractor; call it like the function it wraps."""

    name: str
    version: int
    needs: tuple[str, ...]
    outputs: tuple[DatasetSpec, ...]
    languages: tuple[str, ...] | None
    func: Callable[..., None]
    description: str = ""
    module: str = ""
    attribute: str = ""
    default: bool = True  # part of a run without --select; False: only when selected by name or group
    #: run on minified build outputs too (``--include-generated``; the plan sets it, see generated.py)
    include_generated: bool = False

    def __call__(self, src: Any, out: Any) -> None:
        self.func(src, out)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.outputs)

    def applies_to(self, language: str | None) -> bool:
        return self.languages is None or language in self.languages

    @property
    def skips_generated(self) -> bool:
        """Does it leave minified build outputs alone? Every extractor of a language whose build
        outputs are minified does, unless the run includes them; one of every language (the
        manifest) never does."""
        return (
            not self.include_generated
            and self.languages is not None
            and not generated.LANGUAGES.isdisjoint(self.languages)
        )


@dataclass(frozen=True, eq=False)
class Operation:
    """A declared table-level step over whole datasets (runs after the file extractors)."""

    name: str
    version: int
    inputs: tuple[str, ...]
    outputs: tuple[str | DatasetSpec, ...]
    func: Callable[..., Any]
    description: str = ""
    module: str = ""
    attribute: str = ""
    default: bool = True  # part of a run without --select; False: only when selected by name or group
    extra: dict[str, Any] = field(default_factory=dict)
    #: None: recomputed whole; "repo": each repo's output rows derive from that repo's input rows
    #: alone; "file" or {output: key columns}: keyed partitions (see :func:`operation`)
    partition: str | None = None
    #: output -> the columns keying its partitions (for "file": repo and path of every output)
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: ``affected(ctx, changed_files) -> output keys`` (None: run whole); see :func:`operation`
    affected: Callable[..., Any] | None = None
    #: repos with the same input rows get the same output rows: a whole run derives one of them and
    #: copies its rows to the others (see :func:`operation` and codequarry.optwins)
    twins: bool = False


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DeclarationError(
            f"{kind} name {name!r} is not a dotted name like 'acme.env.reads' (letters, digits, _ and dots)"
        )


def _check_version(kind: str, name: str, version: Any) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise DeclarationError(f"{kind} '{name}': version must be a non-negative int, got {version!r}")


def file_extractor(
    name: str,
    *,
    version: int,
    outputs: Sequence[DatasetSpec],
    needs: Iterable[str] = ("ast",),
    languages: Iterable[str] | None = ("python",),
    description: str | None = None,
    default: bool = True,
) -> Callable[[ExtractorFunc], FileExtractor]:
    """Declare a file extractor. ``languages=None`` runs it on every file, whatever its language;
    ``default=False`` keeps an expensive one out of runs that do not select it by name or group."""
    _check_name("extractor", name)
    _check_version("extractor", name, version)
    needs_t = tuple(needs)
    for need in needs_t:
        if need not in PARSE_PRODUCTS:
            raise DeclarationError(
                f"extractor '{name}' needs unknown parse product '{need}'.{did_you_mean(need, PARSE_PRODUCTS)}"
                f" Known: {', '.join(PARSE_PRODUCTS)}"
            )
    outs = tuple(outputs)
    for out in outs:
        if not isinstance(out, DatasetSpec):
            raise DeclarationError(f"extractor '{name}': outputs must be @dataset classes, got {out!r}")
    if not outs:
        raise DeclarationError(f"extractor '{name}' declares no outputs")

    def wrap(func: ExtractorFunc) -> FileExtractor:
        doc = description if description is not None else (func.__doc__ or "").strip().split("\n")[0]
        return FileExtractor(
            name=name,
            version=version,
            needs=needs_t,
            outputs=outs,
            languages=tuple(languages) if languages is not None else None,
            func=func,
            description=doc,
            module=func.__module__,
            attribute=func.__name__,
            default=default,
        )

    return wrap


def operation(
    name: str,
    *,
    version: int,
    inputs: Iterable[str],
    outputs: Iterable[str | DatasetSpec],
    description: str | None = None,
    default: bool = True,
    partition: str | Mapping[str, str | Sequence[str]] | None = None,
    affected: Callable[..., Any] | None = None,
    twins: bool = False,
) -> Callable[[Callable[..., Any]], Operation]:
    """Declare a table-level operation over whole datasets. ``default=False`` keeps an expensive
    operation out of runs that do not select it (``--select`` its name or a group holding it).

    An operation that declares no ``partition`` is recomputed whole whenever an input changed,
    correctly. Declaring one makes its refresh cost follow the size of the change:

    ``partition="repo"`` is a promise: the output rows of a repo (every output has a ``repo``
    column) are derived from the input rows of that repo alone (inputs without a ``repo`` column are
    read whole). A run then re-derives only the repos whose input rows changed: the context's
    ``sql``/``table`` see only those repos' rows (``ctx.partitions`` names them), the rows returned
    replace those repos' output rows, and the other repos' rows are kept as they are.

    ``twins=True`` is another promise (pay once per unique content, for derived rows): two repos
    whose rows in every input are the same but for ``repo`` get the same output and ``errors`` rows
    but for ``repo`` (the only column naming a repo), and leaving out a repo whose input rows equal
    those of a repo before it (in repo order) changes nobody's rows. A whole run then derives one
    repo of each set of such twins (``ctx.partitions`` names the repos derived) and copies its rows
    to the others, and the summary says how many were copied (the operation's own ``ctx.report``
    figures are of the repos derived). True of an operation deriving a repo's rows from that repo's
    rows alone; not of one counting rows across repos (``acme.subclasses`` below) or reading the
    source files. See :mod:`codequarry.optwins`.

    ``partition="file"`` keys every output row by its ``(repo, path)``; ``partition={output:
    columns}`` keys each output by the columns named (e.g. ``{"orm_models": "fqn", "orm_fields":
    "model"}``; every output named, every key of the same arity, no key column null). A run finds
    the input files whose rows changed since the operation last ran (``changed``: a set of
    ``(repo, path)``, deleted and renamed files included), asks ``affected(ctx, changed)`` which
    output keys may change as a result, and calls the operation with ``ctx.keys`` holding them (a
    frozenset of tuples); the operation returns the rows of exactly those keys (a row of another key
    fails the run), and the engine replaces those keys' rows, in one Delta overwrite with a
    predicate per output, keeping every other row. The inputs are seen whole (a key may depend on
    any file), and ``ctx.before(name)`` gives the changed files' input rows as the operation last
    saw them (what a deleted class used to be), ``ctx.own(name)`` its outputs as stored. ``affected``
    may return None to run whole; without ``affected``, a ``"file"`` partition promises that a
    file's output rows come from that file's input rows alone (the keys are ``changed``). A whole
    run (the first, a version bump, an input appeared) sets ``ctx.keys`` to None. Example
    (runnable: tests/test_incops.py runs it)::

        import pyarrow.compute as pc

        @dataset("subclass_counts")
        class SubclassCount:
            name: str
            subclasses: int

        def _affected(ctx, changed):
            # a file's count changes when its own classes change, or when a class naming one of
            # them as a base is added or removed somewhere: every file holding a class named by a
            # changed file's classes, before or after, is affected
            names = set()
            for rows in (ctx.before("classes", ["bases"]), ctx.changed_rows("classes", ["bases"])):
                names |= {b.rsplit(".", 1)[-1] for bases in rows["bases"].to_pylist() for b in bases}
            classes = ctx.table("classes", ["repo", "path", "name"])
            hit = classes.filter(pc.is_in(classes["name"], pa.array(sorted(names), pa.string())))
            return set(changed) | set(zip(hit["repo"].to_pylist(), hit["path"].to_pylist()))

        @operation("acme.subclasses", version=1, inputs=["classes"], outputs=[SubclassCount],
                   partition="file", affected=_affected)
        def subclasses(ctx):
            rows = ctx.sql("SELECT c.repo, c.path, c.sha256, c.name, count(s.name) AS subclasses "
                           "FROM classes c LEFT JOIN (SELECT name, unnest(bases) AS base FROM classes) s "
                           "ON s.base = c.name OR s.base LIKE '%.' || c.name "
                           "GROUP BY c.repo, c.path, c.sha256, c.name")
            return ctx.only_keys(rows)  # the rows of ctx.keys (all of them on a whole run)
    """
    _check_name("operation", name)
    _check_version("operation", name, version)
    outs = tuple(outputs)
    keys = _partition_keys(name, partition, outs)
    if affected is not None and not keys:
        raise DeclarationError(
            f"operation '{name}': affected= needs a keyed partition (partition='file' or a mapping)"
        )

    def wrap(func: Callable[..., Any]) -> Operation:
        doc = description if description is not None else (func.__doc__ or "").strip().split("\n")[0]
        return Operation(
            name=name,
            version=version,
            inputs=tuple(inputs),
            outputs=outs,
            func=func,
            description=doc,
            module=func.__module__,
            attribute=func.__name__,
            default=default,
            partition=partition if isinstance(partition, str) or partition is None else "key",
            keys=keys,
            affected=affected,
            twins=twins,
        )

    return wrap


def _partition_keys(
    name: str, partition: str | Mapping[str, str | Sequence[str]] | None, outs: tuple[str | DatasetSpec, ...]
) -> dict[str, tuple[str, ...]]:
    """The key columns of each output for a keyed partition ({} for none or 'repo')."""
    out_names = [o if isinstance(o, str) else o.name for o in outs]
    if partition is None or partition == "repo":
        return {}
    if partition == "file":
        return {o: ("repo", "path") for o in out_names}
    if not isinstance(partition, Mapping):
        raise DeclarationError(
            f"operation '{name}': partition={partition!r}; use 'repo', 'file', a mapping "
            "{output: key columns}, or None (recomputed whole)"
        )
    keys = {o: (c,) if isinstance(c, str) else tuple(c) for o, c in partition.items()}
    if set(keys) != set(out_names) or len({len(k) for k in keys.values()}) != 1:
        raise DeclarationError(
            f"operation '{name}': partition must name key columns for every output {out_names}, "
            "each key of the same number of columns"
        )
    for out in outs:
        if isinstance(out, DatasetSpec):
            missing = [c for c in keys[out.name] if c not in out.schema.names]
            if missing:
                raise DeclarationError(f"operation '{name}': output '{out.name}' has no column {missing}")
            if any(not pa.types.is_string(out.schema.field(c).type) for c in keys[out.name]):
                raise DeclarationError(f"operation '{name}': the key columns of '{out.name}' must be str")
    return keys


#: what ``out.error(...)`` calls: (kind, message, line, column, source line)
ErrorReport = Callable[[str, str, int | None, int | None, str | None], None]


class Outputs:
    """The ``out`` argument of a file extractor: one row buffer per declared dataset, as attributes."""

    def __init__(self, buffers: Mapping[str, RowBuffer], report: ErrorReport | None = None) -> None:
        self.__dict__.update(buffers)
        self.__dict__["_report"] = report

    def error(
        self,
        kind: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        source_line: str | None = None,
    ) -> None:
        """Add an ``errors`` row for this file in this extractor's name, without giving up its other
        rows: what a tolerant parser recovered from (a tree-sitter ERROR or MISSING node)."""
        report = self.__dict__["_report"]
        if report is not None:
            report(kind, message, line, column, source_line)

    def __getitem__(self, name: str) -> RowBuffer:
        try:
            buf: RowBuffer = self.__dict__[name]
            return buf
        except KeyError:
            raise DeclarationError(
                f"no declared output '{name}'.{did_you_mean(name, self.__dict__)}"
            ) from None

    def __getattr__(self, name: str) -> RowBuffer:  # only reached when the attribute is missing
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]
