"""The Tamarin preset: one task per (theory, lemma, executable), and the classification of its output.

Lemmas are found with the tree-sitter grammar of Tamarin's ``.spthy`` language (package
``py-tree-sitter-spthy``), applying the preprocessor as Tamarin does: ``#ifdef`` conditions
(``A``, ``A & B``, ``A | B``, ``not A``, parentheses) over the recipe's ``defines`` and the
theory's own ``#define`` lines, with ``#else`` branches, and ``#include`` files read relative to
the file that includes them. A task runs::

    EXECUTABLE +RTS -N{cores} -RTS --prove=LEMMA [-D=DEFINE ...] [extra_args ...] THEORY

and its result is read from the summary Tamarin prints last::

    summary of summaries:
    analyzed: protocols/simple.spthy
      processing time: 0.42s
      secrecy (all-traces): verified (5 steps)
      auth (exists-trace): falsified - no trace found (7 steps)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict

from codequarry.errors import UsageError
from codequarry.schema import DatasetSpec, dataset
from codequarry.tools.presets.base import Preset, Resolving, Settings, Target

if TYPE_CHECKING:
    from codequarry.tools.planned import TaskPlan

INSTALL = "pip install 'codequarry[tamarin]'"
LEMMA_KINDS = ("lemma", "diff_lemma")
DEFAULT_COMMAND = ("{executable}", "+RTS", "-N{cores}", "-RTS", "--prove={lemma}")


@dataset("tamarin_results")
class TamarinResult:
    """One row per (theory, lemma, executable) task of a Tamarin tool; repo is the tool, path the theory."""

    task_id: str
    theory: str
    lemma: str
    executable: str
    executable_path: str
    status: str  # the task's status: ok, failed, timeout, memory_limit, killed
    result: str | None  # verified, falsified, unterminated (analysis incomplete), or null
    trace: str | None  # all-traces or exists-trace
    steps: int | None
    seconds: float  # wall-clock seconds of the task
    tamarin_seconds: float | None  # Tamarin's own "processing time"
    peak_memory: int  # bytes, whole process tree
    warnings: list[str]
    message: str | None


def parser() -> Any:
    """A tree-sitter parser for .spthy, or the exact install command when the grammar is missing."""
    try:
        import tree_sitter
        import tree_sitter_spthy
    except ImportError:
        raise UsageError(
            f"the tamarin preset finds lemmas with tree-sitter-spthy, which is not installed: run {INSTALL}"
        ) from None
    lang = tree_sitter_spthy.language()
    if not isinstance(lang, tree_sitter.Language):  # older bindings return a pointer
        lang = tree_sitter.Language(lang)
    return tree_sitter.Parser(lang)


@dataclass(frozen=True)
class Lemma:
    name: str
    line: int
    trace: str  # all-traces (the default) or exists-trace
    file: str  # where it is declared (an included file, possibly)


@dataclass
class Theory:
    path: Path
    name: str | None = None
    lemmas: list[Lemma] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # the theory and every file it includes
    notes: list[str] = field(default_factory=list)


def discover(path: Path, defines: set[str] | frozenset[str] = frozenset(), *, _parser: Any = None) -> Theory:
    """The lemmas of a theory as Tamarin would see them with ``-D`` for each of ``defines``."""
    theory = Theory(path=path)
    _walk_file(path, set(defines), theory, _parser or parser(), seen=set())
    return theory


def _walk_file(path: Path, defines: set[str], theory: Theory, ts_parser: Any, seen: set[Path]) -> None:
    real = path.resolve()
    if real in seen:
        theory.notes.append(f"{path}: included twice (an #include cycle?); read once")
        return
    seen.add(real)
    theory.files.append(path)
    try:
        src = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read theory '{path}': {exc.strerror or exc}") from None
    included = len(theory.files) > 1
    if included:  # an included file is a fragment of a theory: parse it inside one
        src = _WRAP_HEAD + src + b"\nend\n"
    tree = ts_parser.parse(src)
    root = tree.root_node
    if root.has_error:
        bad = _first_error(root) - (1 if included else 0)
        theory.notes.append(
            f"{path}:{bad}: tree-sitter-spthy could not parse part of this file; lemmas there may be missing"
        )
    if theory.name is None and root.type == "theory" and not included:
        ident = root.child_by_field_name("theory_name")
        theory.name = _text(src, ident) if ident is not None else None
    _walk(root, src, path, defines, theory, ts_parser, seen)


_WRAP_HEAD = b"theory Included begin\n"


def _first_error(node: Any) -> int:
    stack = [node]
    while stack:
        n = stack.pop(0)
        if n.type == "ERROR" or n.is_missing:
            return int(n.start_point[0]) + 1
        stack.extend(c for c in n.children if c.has_error)
    return int(node.start_point[0]) + 1


def _text(src: bytes, node: Any) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _walk(
    node: Any, src: bytes, path: Path, defines: set[str], theory: Theory, ts_parser: Any, seen: set[Path]
) -> None:
    for child in node.named_children:
        kind = child.type
        if kind in LEMMA_KINDS:
            ident = child.child_by_field_name("lemma_identifier")
            if ident is None:
                continue
            quant = next((c for c in child.named_children if c.type == "trace_quantifier"), None)
            trace = _text(src, quant).strip() if quant is not None else "all-traces"
            line = int(child.start_point[0]) + (0 if src.startswith(_WRAP_HEAD) else 1)
            theory.lemmas.append(
                Lemma(
                    _text(src, ident),
                    line,
                    "exists-trace" if trace == "exists-trace" else "all-traces",
                    str(path),
                )
            )
        elif kind == "preprocessor":
            _walk(child, src, path, defines, theory, ts_parser, seen)
        elif kind == "define":
            ident = next((c for c in child.named_children if c.type == "ident"), None)
            if ident is not None:
                defines.add(_text(src, ident))
        elif kind == "include":
            target = next((c for c in child.named_children if c.type == "path"), None)
            if target is not None:
                included = path.parent / _text(src, target)
                if not included.is_file():
                    raise UsageError(
                        f'{path}:{child.start_point[0] + 1}: #include "{_text(src, target)}": '
                        f"no such file ({included})"
                    )
                _walk_file(included, defines, theory, ts_parser, seen)
        elif kind == "ifdef":
            _ifdef(child, src, path, defines, theory, ts_parser, seen)


def _ifdef(
    node: Any, src: bytes, path: Path, defines: set[str], theory: Theory, ts_parser: Any, seen: set[Path]
) -> None:
    """Walk the branch of an #ifdef that the defines select (children: '#ifdef' COND body ['#else' body])."""
    cond = None
    branch = "cond"
    then_nodes: list[Any] = []
    else_nodes: list[Any] = []
    for child in node.children:
        if child.type == "#ifdef":
            continue
        if branch == "cond" and child.is_named:
            cond = child
            branch = "then"
        elif child.type == "#else":
            branch = "else"
        elif child.type == "#endif":
            break
        elif child.is_named:
            (then_nodes if branch == "then" else else_nodes).append(child)
    chosen = then_nodes if cond is not None and _holds(cond, src, defines) else else_nodes
    holder = _Holder(chosen)
    _walk(holder, src, path, defines, theory, ts_parser, seen)


class _Holder:
    """A stand-in node whose named children are one branch of an #ifdef."""

    def __init__(self, children: list[Any]) -> None:
        self.named_children = children


def _holds(cond: Any, src: bytes, defines: set[str]) -> bool:
    kind = cond.type
    parts = [c for c in cond.named_children]
    if kind == "ident":
        return _text(src, cond) in defines
    if kind == "ifdef_and":
        return all(_holds(c, src, defines) for c in parts)
    if kind == "ifdef_or":
        return any(_holds(c, src, defines) for c in parts)
    if kind == "ifdef_not":
        return not _holds(parts[0], src, defines) if parts else True
    if kind == "ifdef_nested":
        return _holds(parts[0], src, defines) if parts else False
    return False


# -- reading Tamarin's output -----------------------------------------------------------------------

_SUMMARY_LINE = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9_]+)\s+\((?P<trace>all-traces|exists-trace)\):\s+"
    r"(?P<result>verified|falsified - found trace|falsified - no trace found|falsified|analysis incomplete)"
    r"(?:\s+\((?P<steps>\d+)\s+steps?\))?",
    re.M,
)
_PROCESSING = re.compile(r"processing time:\s*([0-9.]+)\s*s")
_WARNING = re.compile(r"WARNING:\s*(\d+\s+wellformedness checks? failed!?)")
_RESULT = {"verified": "verified", "analysis incomplete": "unterminated"}


@dataclass(frozen=True)
class Classified:
    result: str | None
    trace: str | None
    steps: int | None
    tamarin_seconds: float | None
    warnings: list[str]
    message: str | None
    failed: bool  # exit code 0, yet no result for the lemma: the task failed


def classify(lemma: str, exit_code: int | None, output: str) -> Classified:
    """Read the result of ``lemma`` from Tamarin's output (stdout and stderr together)."""
    start = output.rfind("summary of summaries:")
    summary = output[start:] if start >= 0 else ""
    warnings = sorted(set(_WARNING.findall(output)))
    seconds = _PROCESSING.search(summary)
    found = None
    for m in _SUMMARY_LINE.finditer(summary):
        if m.group("name") == lemma:
            found = m
    if found is None:
        if start < 0:
            message = "Tamarin printed no summary (it stopped before proving)"
        else:
            message = f"the summary has no line for lemma '{lemma}'"
        return Classified(
            None,
            None,
            None,
            float(seconds.group(1)) if seconds else None,
            warnings,
            message,
            failed=exit_code == 0,
        )
    word = found.group("result")
    result = _RESULT.get(word, "falsified" if word.startswith("falsified") else None)
    return Classified(
        result,
        found.group("trace"),
        int(found.group("steps")) if found.group("steps") else None,
        float(seconds.group(1)) if seconds else None,
        warnings,
        None,
        failed=False,
    )


# -- the preset ------------------------------------------------------------------------------------


class TamarinOptions(BaseModel):
    """The recipe keys of preset "tamarin"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    theories: list[str] | None = None
    lemmas: list[str] | None = None
    defines: list[str] | None = None
    extra_args: list[str] | None = None


class TamarinPreset(Preset):
    """One task per (theory, lemma, executable); results in ``tamarin_results``."""

    name = "tamarin"
    options = TamarinOptions
    dataset = cast(DatasetSpec, TamarinResult)

    def settings(self, given: Settings, ctx: Resolving) -> Settings:
        o = self.options_of(ctx, TamarinOptions)
        out = dict(given)
        if out["command"] is None:
            defines = [f"-D={d}" for d in (o.defines or [])]
            out["command"] = [*DEFAULT_COMMAND, *defines, *(o.extra_args or []), "{file}"]
        if not ctx.value("executables"):
            raise ctx.err("executables", 'the tamarin preset needs executables = { LABEL = "PATH" }')
        return out

    def targets(self, ctx: Resolving) -> list[Target]:
        """Every lemma of the theories that the ``lemmas`` globs match (all by default)."""
        o = self.options_of(ctx, TamarinOptions)
        if not o.theories:
            raise ctx.err("theories", 'required by preset "tamarin": globs of .spthy files')
        ts_parser = parser()
        patterns = o.lemmas or ["*"]
        out: list[Target] = []
        for p in ctx.glob("theories", o.theories):
            theory = discover(p, set(o.defines or []), _parser=ts_parser)
            ctx.notes.extend(theory.notes)
            rel = ctx.rel(p)
            included = tuple(theory.files[1:])  # inputs of every task of the theory
            for lemma in theory.lemmas:
                if any(fnmatchcase(lemma.name, pat) for pat in patterns):
                    out.append(Target(rel, p, lemma.name, rel, included))
        if not out:
            raise ctx.err(
                "lemmas", f"no lemma of {o.theories} matches {patterns} (with defines {o.defines or []})"
            )
        return out

    def classify(self, task: TaskPlan, outcome: dict[str, Any], output: str) -> list[dict[str, Any]]:
        """A lemma's result from the summary; exit code 0 without one fails the task."""
        if task.lemma is None:
            return []
        got = classify(task.lemma, outcome["exit_code"], output)
        if outcome["status"] == "ok" and got.failed:
            outcome["status"], outcome["message"] = "failed", got.message
        return [
            {
                "repo": task.tool,
                "path": task.group,
                "sha256": task.sha256,
                "task_id": task.id,
                "theory": task.target,
                "lemma": task.lemma,
                "executable": task.executable or "",
                "executable_path": task.executable_path,
                "status": outcome["status"],
                "result": got.result if outcome["status"] == "ok" else None,
                "trace": got.trace,
                "steps": got.steps,
                "seconds": outcome["wall_seconds"],
                "tamarin_seconds": got.tamarin_seconds,
                "peak_memory": outcome["peak_memory"],
                "warnings": got.warnings,
                "message": outcome["message"] or got.message,
            }
        ]

    def summary_lines(self, results: Iterable[dict[str, Any]]) -> list[str]:
        """The lemmas' verdicts: ``lemmas: 3 verified, 1 falsified``."""
        verdicts = Counter(r["result"]["result"] for r in results if r.get("result"))
        if not verdicts:
            return []
        return [
            "  lemmas: "
            + ", ".join(
                f"{n} {k or 'no result'}" for k, n in sorted(verdicts.items(), key=lambda kv: str(kv[0]))
            )
        ]


PRESET = TamarinPreset()
