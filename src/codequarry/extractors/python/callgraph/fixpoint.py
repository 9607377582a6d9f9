"""The points-to solver's worklist: tasks run again only when something they read grew.

Each fact of the solver (an assignment, a def, a class, a return, a yield, a call) is a task.
Evaluating a task records which keys it read (a variable, ``("C", site)`` a container's slots,
``("MRO", class)`` a class's MRO); when a key grows, the tasks that read it are queued again. This is
chaotic iteration as dependency-driven Andersen-style solvers do it, instead of re-evaluating every
fact every round. An MRO is computed from its bases' variables: it records its reads under
``("M", class)``, and when one grows the cached MRO is dropped and its own readers are queued.

The pending task that comes first in file order runs next (a heap), so the order of evaluation, which
matters once a set is capped to TOP (see docs/tables/call_graph.md), does not depend on how Python
happens to order a set. Every other rule only adds, or reads the first phase's fixpoint
(:meth:`~.pointsto.Solver.freeze`): with no set capped, the answers are the least fixpoint of the
facts, in any order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

#: evaluations per task and phase, on average, before the solve stops where it is (a guard: on the
#: standard library the fixpoint is reached with ~1.5 evaluations a task)
MAX_EVALS_PER_TASK = 40


class Worklist:
    """Tasks, who read what, and the queue of tasks to run again."""

    def __init__(self) -> None:
        #: the tasks: (kind, file, fact); kind a (assign), d (def), k (class), r (return), y (yield),
        #: c (call: fact is its index in the file's calls)
        self.tasks: list[tuple[str, int, Any]] = []
        #: what read each key: task ids, or ("M", class) for an MRO computed from it
        self.deps: dict[Any, set[Any]] = {}
        self.cur: Any = None  # the task (or MRO) being evaluated; None: reads are not recorded
        self.queue: list[int] = []  # a heap of task ids
        self.queued: list[bool] = []
        self.evaluations = 0
        self.converged = True  # False once the guard on evaluations stopped a drain
        self._mro: dict[str, list[str]] = {}  # class -> its MRO, while nothing it was computed from grew

    def push(self, t: int) -> None:
        if not self.queued[t]:
            self.queued[t] = True
            heapq.heappush(self.queue, t)

    def drain(self, run: Callable[[tuple[str, int, Any]], None], *, every: bool = False) -> None:
        """Run queued tasks (``every``: all of them first) until none is left or the guard stops."""
        if every:
            self.queued = [True] * len(self.tasks)
            self.queue = list(range(len(self.tasks)))  # sorted: already a heap
        elif len(self.queued) != len(self.tasks):
            self.queued = [False] * len(self.tasks)
        budget = self.evaluations + MAX_EVALS_PER_TASK * max(1, len(self.tasks))
        queue, queued, tasks = self.queue, self.queued, self.tasks
        while queue and self.evaluations < budget:
            t = heapq.heappop(queue)
            queued[t] = False
            self.cur = t
            self.evaluations += 1
            run(tasks[t])
        self.cur = None
        if queue:  # the guard stopped it: values are not a fixpoint
            self.converged = False
        queue.clear()
        self.queued = [False] * len(tasks)

    def read(self, key: Any) -> None:
        """The current task (or MRO) read ``key``: it runs again when ``key`` grows."""
        if self.cur is not None:
            got = self.deps.get(key)
            if got is None:
                self.deps[key] = {self.cur}
            else:
                got.add(self.cur)

    def grew(self, key: Any) -> None:
        """``key`` grew: queue every task that read it; an MRO computed from it is recomputed."""
        readers = self.deps.get(key)
        if not readers:
            return
        for reader in readers:
            if reader.__class__ is int:
                if not self.queued[reader]:
                    self.queued[reader] = True
                    heapq.heappush(self.queue, reader)
            elif self._mro.pop(reader[1], None) is not None:
                self.grew(("MRO", reader[1]))
