"""The points-to solve skips work that cannot change anything, and gives the same answers, in the
same order of evaluation, as the solve that does it:

- the final phase starts with the decorated defs and classes and the tasks whose questions it
  answers otherwise than the first phase (``Solver.again``: an attribute from outside the corpus that
  is not empty, a fallback whose variable the first phase left empty), not with every task that
  asked one;
- the arguments a call binds once per callee are evaluated once while nothing grows (``Solver.arg``);
- an instance field is read only for an attribute some fact stores (``Solver.plan``).

``EveryTime`` is the solver doing all of it, as before: every set, every capped set and every answer
must be equal, with fewer evaluations. Facts come from the real extractor (the fixture of
``test_callgraph_order``); the corpus is read, never imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codequarry.extractors.python.callgraph import pointsto
from codequarry.extractors.python.callgraph.domain import CAP
from codequarry.testing import write_tree
from tests.extractors.python.test_callgraph_order import facts, tree


class _Every:
    def __contains__(self, _name: object) -> bool:
        return True


class EveryTime(pointsto.Solver):
    """The final phase starts with every task that asked a question, each argument is evaluated for
    each callee, and every instance field along the MRO is read."""

    def __init__(self, files: list[tuple[str, Any]], pinned: frozenset[Any] = frozenset()) -> None:
        super().__init__(files, pinned)
        self._fielded = _Every()  # type: ignore[assignment]

    def again(self) -> set[int]:
        out = super().again()
        for tasks in (*self.asked_outside.values(), *self.asked_fallback.values()):
            out |= tasks
        return out

    def arg(self, e: Any, ctx: Any) -> Any:
        return self.eval(e, ctx)


@pytest.mark.parametrize("handlers", [CAP - 10, CAP + 6], ids=["under_the_cap", "past_the_cap"])
def test_the_skipped_work_changes_no_answer(tmp_path: Path, handlers: int) -> None:
    files = facts([write_tree(tmp_path / "app", tree(handlers))], tmp_path / "store")
    every, now = EveryTime(files), pointsto.Solver(files)
    before, after = every.solve(), now.solve()
    assert after < before  # the final phase started with fewer tasks
    assert now.again() < every.again()
    assert now.pts == every.pts and now.cont == every.cont and now.over == every.over
    assert (now.over != set()) == (handlers > CAP)  # past the cap, the order decides: it is the same
    for i in range(len(files)):
        assert now.answers(i) == every.answers(i)
    found = {o for i in range(len(files)) for objs, *_ in now.answers(i)[0] for o in objs}
    assert ("XA", "django.views.View", "dispatch") in found  # an answer the final phase gives
    assert ("BM", "app.core.Job.run", ("I", "app.core.Job")) in found  # self through the fallback


def test_a_question_answered_as_in_the_first_phase_does_not_start_its_task_again(tmp_path: Path) -> None:
    files = facts([write_tree(tmp_path / "app", tree(CAP - 10))], tmp_path / "store")
    solver = pointsto.Solver(files)
    solver.solve()
    # x.run() in a handler asks whether run comes from outside the corpus: Job defines it, so the
    # answer is nothing in both phases, and the task is not in the final phase's first tasks
    question = ("app.core.Job", "run", 0)
    assert solver.outside[question] == frozenset()
    assert solver.asked_outside[question] and not solver.asked_outside[question] & solver.again()
    # Page.render's self.dispatch: from django's View, in the final phase only
    assert solver.asked_outside[("app.more.Page", "dispatch", 0)] <= solver.again()
