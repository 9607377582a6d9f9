"""The points-to solver's answers, kept per repo so that an unchanged repo is not solved again.

The solver works on one repo at a time, and what it answers for a repo depends only on that repo's
``callgraph_facts`` rows (in path order) and on the solver's own code. So the operation keeps those
answers in its ``callgraph_solutions`` table, one row per file, with a digest of the repo's facts:
on the next run, a repo whose digest is unchanged takes its answers from there, and only the repos
whose facts changed (a file edited, added, removed, re-extracted by a new facts version) are solved.
What the answers are turned into (``call_graph`` and ``references`` rows, through the definitions of
every repo) is redone each run, since a definition in one repo can answer a call in another.

Answers are the abstract objects of :mod:`.pointsto` as JSON (tuples come back as lists, which the
readers index the same way).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from codequarry.extractors.python.callgraph import codec
from codequarry.extractors.python.callgraph.pointsto import Solver
from codequarry.schema import dataset

#: bump when the solver answers differently for the same facts: stored answers are then not reused
SOLVER_VERSION = 3

#: per file: (call sites: (objects, reason, (line, col, end_line, end_col)),
#:            references: (objects, [line, col, kind, scope]))
Answers = tuple[list[tuple[list[Any], Any, tuple[Any, ...]]], list[tuple[list[Any], list[Any]]]]


@dataset("callgraph_solutions")
class CallgraphSolution:
    """One row per Python file: what the points-to solver found for its call sites and references
    (JSON), and the digest of its repo's facts they were solved from. Internal: kept so that a repo
    whose facts did not change is not solved again."""

    digest: str
    calls: str  # [[line, col, end_line, end_col, [object...], reason], ...]
    refs: str  # [[line, col, kind, scope, [object...]], ...]


def digest(facts: Iterable[tuple[str, str]]) -> str:
    """Of a repo's (path, facts) rows, in path order, and the solver version."""
    h = hashlib.blake2b(f"solver {SOLVER_VERSION}\0".encode(), digest_size=20)
    for path, text in facts:
        h.update(f"{len(path)}:{path}{len(text)}:".encode("utf-8", "surrogatepass"))
        h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def solve(files: list[tuple[str, str]]) -> tuple[list[Answers], int]:
    """Solve one repo's files ((module, facts) in path order): answers per file, evaluations run."""
    solver = Solver(files)
    evaluations = solver.solve()
    return [solver.answers(i) for i in range(len(files))], evaluations


def stored(table: pa.Table | None, wanted: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """repo -> path -> stored row, of the repos whose stored digest is the ``wanted`` one."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if table is None or not wanted:
        return out
    names = ("repo", "path", "sha256", "digest", "calls", "refs")
    for row in zip(*(table.column(c).to_pylist() for c in names), strict=True):
        if wanted.get(row[0]) == row[3]:
            out.setdefault(row[0], {})[row[1]] = dict(zip(names, row, strict=True))
    return out


def answers(row: dict[str, Any]) -> Answers:
    """The answers a stored row holds."""
    sites = [(c[4], c[5], tuple(c[:4])) for c in codec.decode(row["calls"])]
    uses = [(r[4], r[:4]) for r in codec.decode(row["refs"])]
    return sites, uses


def row(repo: str, path: str, sha: str, dig: str, found: Answers) -> dict[str, Any]:
    """The ``callgraph_solutions`` row of one file."""
    sites, uses = found
    # a site or use with nothing found reads the same as an absent one (no objects, no reason)
    calls = [[*pos, objs, reason] for objs, reason, pos in sites if objs or reason]
    refs = [[*info, objs] for objs, info in uses if objs]
    return {
        "repo": repo,
        "path": path,
        "sha256": sha,
        "digest": dig,
        "calls": codec.encode(calls),
        "refs": codec.encode(refs),
    }


SCHEMA = CallgraphSolution.schema
