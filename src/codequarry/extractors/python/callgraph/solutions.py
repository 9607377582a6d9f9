"""The points-to solver's answers, kept per repo so that an unchanged repo is not solved again.

The solver works on one repo at a time, and what it answers for a repo depends only on that repo's
``callgraph_facts`` rows (in path order) and on the solver's own code. So the operation keeps those
answers in its ``callgraph_solutions`` table, one row per file, with a digest of the repo's facts:
on the next run, a repo whose digest is unchanged takes its answers from there, and only the repos
whose facts changed (a file edited, added, removed, re-extracted by a new facts version) are solved.
What the answers are turned into (``call_graph`` and ``references`` rows, through the definitions of
every repo) is redone each run, since a definition in one repo can answer a call in another.

Positions never steer the solve: the solver reads a call's or a reference's line and column only to
report them, and a def's or class's line not at all. So each row also keeps the digest of its file's
facts (``facts_digest``) and of those facts without their positions (``shape``), and each stored
answer the index of its call or reference in the file's facts. When a repo's facts changed but every
file's shape is the stored one (the same paths, the same modules, only lines and columns moved: a
docstring or comment grew a line, code was re-wrapped, a blank line went), the solve would run on
the very same input and find the very same objects: the stored answers are taken, with each call's
and reference's position read from the file's facts of now (:func:`reshaped`).

Answers are the abstract objects of :mod:`.pointsto` as JSON (tuples come back as lists, which the
readers index the same way).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from codequarry.extractors.python.callgraph import codec
from codequarry.schema import dataset

#: bump when the solver answers differently for the same facts: stored answers are then not reused
SOLVER_VERSION = 8

#: the answers' stored form (an index per call and reference) and the shape digest: bump with it
SHAPE_VERSION = 1

#: per file: (call sites: (objects, reason, (line, col, end_line, end_col)),
#:            references: (objects, [line, col, kind, scope]))
Answers = tuple[list[tuple[list[Any], Any, tuple[Any, ...]]], list[tuple[list[Any], list[Any]]]]


@dataset("callgraph_solutions")
class CallgraphSolution:
    """One row per Python file: what the points-to solver found for its call sites and references
    (JSON), and the digest of its repo's facts they were solved from. Internal: kept so that a repo
    whose facts did not change is not solved again."""

    digest: str
    facts_digest: str  # of this file's module and facts text
    shape: str  # of this file's module and facts without positions: equal shapes solve the same
    calls: str  # [[line, col, end_line, end_col, [object...], reason, index in the facts' calls], ...]
    refs: str  # [[line, col, kind, scope, [object...], index in the facts' refs], ...]


def digest(facts: Iterable[tuple[str, str]]) -> str:
    """Of a repo's (path, facts) rows, in path order, and the solver version."""
    h = hashlib.blake2b(f"solver {SOLVER_VERSION}\0".encode(), digest_size=20)
    for path, text in facts:
        h.update(f"{len(path)}:{path}{len(text)}:".encode("utf-8", "surrogatepass"))
        h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def file_digest(module: str, text: str) -> str:
    """Of one file's module and facts text."""
    h = hashlib.blake2b(f"{len(module)}:{module}".encode("utf-8", "surrogatepass"), digest_size=20)
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def shape(module: str, facts: dict[str, Any]) -> str:
    """Of one file's module and facts with every position left out (calls' spans, references' line
    and column, defs', classes' and lambdas' lines): two files of one shape are the same input to the solver."""
    bare = {
        **facts,
        "calls": [c[4:] for c in facts["calls"]],
        "refs": [r[2:] for r in facts.get("refs", ())],
        "def": [d[:6] for d in facts["def"]],
        "class": [k[:4] for k in facts["class"]],
        "lambdas": [q[0] for q in facts.get("lambdas", ())],
    }
    h = hashlib.blake2b(f"shape {SOLVER_VERSION} {SHAPE_VERSION}\0{module}\0".encode(), digest_size=20)
    h.update(codec.encode(bare).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def reshaped(
    files: list[tuple[str, str, str, str]], old: dict[str, dict[str, Any]]
) -> list[tuple[Answers, bool]] | None:
    """The answers of a repo whose files ((path, module, facts text, sha256) in path order) have the
    shapes of its ``old`` rows (path -> stored row), each with whether its facts changed (then its
    answers are all of its calls and references, at the positions of now); None when a path was
    added or removed or a file's shape differs (the repo must be solved)."""
    if len(old) != len(files) or any(path not in old or not old[path].get("shape") for path, *_ in files):
        return None
    found: list[tuple[Answers, bool]] = []
    for path, module, text, _sha in files:
        row = old[path]
        if file_digest(module, text) == row["facts_digest"]:
            found.append((answers(row), False))
            continue
        facts = codec.decode(text)
        if shape(module, facts) != row["shape"]:
            return None
        found.append((moved(row, facts), True))
    return found


def moved(row: dict[str, Any], facts: dict[str, Any]) -> Answers:
    """A stored row's answers, one per call and reference of ``facts`` (as the solver gives them),
    each at the position its call or reference has in ``facts`` now."""
    calls, refs = facts["calls"], facts.get("refs", ())
    sites: list[Any] = [([], None, tuple(c[:4])) for c in calls]
    uses: list[Any] = [([], r[:4]) for r in refs]
    for c in codec.decode(row["calls"]):
        sites[c[6]] = (c[4], c[5], sites[c[6]][2])
    for r in codec.decode(row["refs"]):
        uses[r[5]] = (r[4], uses[r[5]][1])
    return sites, uses


def solve(files: list[tuple[str, Any]]) -> tuple[list[Answers], int]:
    """Solve one repo's files ((module, facts) in path order): answers per file, evaluations run."""
    from codequarry.extractors.python.callgraph import pointsto  # the solver: only when the operation runs

    solver = pointsto.Solver(files)
    evaluations = solver.solve()
    return [solver.answers(i) for i in range(len(files))], evaluations


def stored(table: pa.Table | None, wanted: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """repo -> path -> stored row, of the ``wanted`` repos (a row's ``digest`` says whether it was
    solved from the repo's facts of now). Rows stored before ``shape`` existed have it None."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if table is None or not wanted:
        return out
    names = ("repo", "path", "sha256", "digest", "facts_digest", "shape", "calls", "refs")
    columns = [
        table.column(c).to_pylist() if c in table.column_names else [None] * table.num_rows for c in names
    ]
    for row in zip(*columns, strict=True):
        if row[0] in wanted:
            out.setdefault(row[0], {})[row[1]] = dict(zip(names, row, strict=True))
    return out


def answers(row: dict[str, Any]) -> Answers:
    """The answers a stored row holds."""
    sites = [(c[4], c[5], tuple(c[:4])) for c in codec.decode(row["calls"])]
    uses = [(r[4], r[:4]) for r in codec.decode(row["refs"])]
    return sites, uses


def row(repo: str, path: str, sha: str, digests: tuple[str, str, str], found: Answers) -> dict[str, Any]:
    """The ``callgraph_solutions`` row of one file; ``digests``: of its repo's facts, of its own
    facts, its shape."""
    sites, uses = found
    # a site or use with nothing found reads the same as an absent one (no objects, no reason)
    calls = [[*pos, objs, reason, n] for n, (objs, reason, pos) in enumerate(sites) if objs or reason]
    refs = [[*info, objs, n] for n, (objs, info) in enumerate(uses) if objs]
    return {
        "repo": repo,
        "path": path,
        "sha256": sha,
        "digest": digests[0],
        "facts_digest": digests[1],
        "shape": digests[2],
        "calls": codec.encode(calls),
        "refs": codec.encode(refs),
    }


SCHEMA = CallgraphSolution.schema
