"""The DAG of a run, inferred from what each extractor and operation declares it reads and writes.

Nobody lists an order: file extractors read files and write datasets (layer 0); an operation runs
once every dataset it reads has been written, so operations fall into layers whose members are
independent and run in parallel. Everything is checked before any file is read: a dataset with two
producers, a dataset nobody produces, a cycle. Each error names the parties and suggests a fix. The one
exception to "one producer": file extractors of disjoint languages may write one common dataset (the
tree-sitter extractors, one per language, all write ``definitions``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from codequarry.api import FileExtractor, Operation
from codequarry.errors import DeclarationError, did_you_mean
from codequarry.schema import DatasetSpec

RESERVED = {"errors"}  # written by codequarry itself


def output_name(out: str | DatasetSpec) -> str:
    return out if isinstance(out, str) else out.name


@dataclass
class Graph:
    extractors: list[FileExtractor]
    operations: list[Operation]
    producers: dict[str, str] = field(default_factory=dict)  # dataset -> extractor or operation name
    layers: list[list[str]] = field(default_factory=list)  # operation names, layer by layer
    specs: dict[str, DatasetSpec] = field(default_factory=dict)  # declared schemas by dataset

    def operation(self, name: str) -> Operation:
        return next(op for op in self.operations if op.name == name)


def build_graph(extractors: Iterable[FileExtractor], operations: Iterable[Operation]) -> Graph:
    g = Graph(extractors=list(extractors), operations=list(operations))
    nodes: list[FileExtractor | Operation] = [*g.extractors, *g.operations]
    for node in nodes:
        outs = node.outputs
        for out in outs:
            name = output_name(out)
            if name in RESERVED:
                raise DeclarationError(
                    f"'{node.name}' declares output '{name}', which codequarry itself writes; "
                    "choose another dataset name"
                )
            if name in g.producers and not _may_share(g, name, node):
                raise DeclarationError(
                    f"dataset '{name}' has two producers: '{g.producers[name]}' and '{node.name}'; "
                    "rename one of the datasets, or leave one producer out with --skip"
                )
            g.producers.setdefault(name, node.name)
            if isinstance(out, DatasetSpec):
                g.specs[name] = out
    known = set(g.producers) | RESERVED
    for op in g.operations:
        for inp in op.inputs:
            if inp not in known:
                raise DeclarationError(
                    f"operation '{op.name}' reads dataset '{inp}', which no selected extractor or operation "
                    f"produces.{did_you_mean(inp, sorted(known))}"
                )
    g.layers = _layers(g)
    return g


def _may_share(g: Graph, name: str, node: FileExtractor | Operation) -> bool:
    """Whether ``node`` may write ``name`` beside its producers so far: file extractors of disjoint
    languages declaring the same dataset (one extractor per language, each re-run alone when its
    version changes, writing one common table such as ``definitions``)."""
    if not isinstance(node, FileExtractor) or node.languages is None:
        return False
    spec = next((o for o in node.outputs if output_name(o) == name), None)
    mine = set(node.languages)
    for other in g.extractors:
        if other is node or name not in other.output_names:
            continue
        if other.languages is None or mine & set(other.languages) or g.specs.get(name) is not spec:
            return False
    return not any(name in {output_name(o) for o in op.outputs} for op in g.operations)


def _layers(g: Graph) -> list[list[str]]:
    op_outputs = {op.name: {output_name(o) for o in op.outputs} for op in g.operations}
    deps: dict[str, set[str]] = {}
    for op in g.operations:
        deps[op.name] = {g.producers[i] for i in op.inputs if g.producers.get(i) in op_outputs}
    layers: list[list[str]] = []
    done: set[str] = set()
    remaining = dict(deps)
    while remaining:
        ready = sorted(n for n, d in remaining.items() if d <= done)
        if not ready:
            raise DeclarationError(
                f"operations form a cycle: {_cycle(remaining)}; an operation cannot "
                "(even indirectly) read what it writes"
            )
        layers.append(ready)
        done.update(ready)
        for n in ready:
            del remaining[n]
    return layers


def _cycle(deps: dict[str, set[str]]) -> str:
    """One cycle among ``deps`` as 'a -> b -> a'."""
    start = sorted(deps)[0]
    path = [start]
    seen = {start: 0}
    node = start
    while True:
        nxt = sorted(d for d in deps[node] if d in deps)[0]
        if nxt in seen:
            cyc = path[seen[nxt] :] + [nxt]
            return " -> ".join(cyc)
        seen[nxt] = len(path)
        path.append(nxt)
        node = nxt
