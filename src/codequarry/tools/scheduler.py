"""Tasks packed under global budgets: the sum of the running tasks' cores and memory stays within them.

Tasks are taken in the chosen order (``fifo`` as planned; ``shortest`` or ``longest`` first by the
wall time of the previous run, tasks never run before coming last) and started first-fit: the
first pending task that fits in the free cores and memory starts, so small tasks fill the gaps a
large one leaves. Pending tasks are kept as positions, in one queue per (cores, memory) request:
the first that fits is the earliest head among the queues whose request fits, so a collect costs
the number of distinct requests (a handful), not the number of pending tasks. Each running task runs in a thread (reused from task to task) that owns its process tree; the main thread only
starts tasks and collects results, so Ctrl-C lands there, sets ``stop``, and every task thread
then kills its tree and reports ``killed``.
"""

from __future__ import annotations

import queue
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from codequarry.tools.planned import Budget, TaskPlan, TaskRows

ORDERS = ("fifo", "shortest", "longest")


def order_tasks(tasks: TaskRows, order: str, durations: dict[str, float]) -> TaskRows:
    """The tasks in the order ``order`` says (task ids read from the table, no TaskPlan made)."""
    if order == "fifo":
        return tasks
    ids = {r: tasks.table.task_id(r) for r in tasks.rows} if durations else {}
    known = [r for r in tasks.rows if ids.get(r) in durations]
    unknown = [r for r in tasks.rows if ids.get(r) not in durations]
    known.sort(key=lambda r: durations[ids[r]], reverse=order == "longest")
    return tasks.reordered(known + unknown)


class View(Protocol):
    """What the scheduler tells a progress view."""

    def started(self, task: TaskPlan) -> None: ...
    def finished(self, task: TaskPlan, result: Any) -> None: ...
    def tick(self, state: SchedulerState) -> None: ...


@dataclass
class SchedulerState:
    budget: Budget
    pending: int = 0
    running: dict[str, tuple[TaskPlan, float]] = field(default_factory=dict)  # id -> (task, start)
    done: int = 0
    not_ok: int = 0
    cores: int = 0  # allocated
    memory: int = 0  # allocated


@dataclass
class Finished:
    results: list[Any]  # in completion order (empty when they went to ``on_result``)
    not_started: list[TaskPlan]
    interrupted: bool


def run_all(
    tasks: Sequence[TaskPlan],
    budget: Budget,
    execute: Callable[[TaskPlan, threading.Event], Any],
    *,
    view: View | None = None,
    stop: threading.Event | None = None,
    is_ok: Callable[[Any], bool] = lambda r: True,
    on_result: Callable[[Any], None] | None = None,
) -> Finished:
    """Run ``execute(task, stop)`` for every task under the budgets. Each result goes to ``on_result``
    as it is collected, or, without one, into ``Finished.results`` in completion order."""
    pool = _Pool(tasks, budget, execute, view, stop or threading.Event(), is_ok, on_result)
    interrupted = False
    try:
        while pool.pending or pool.state.running:
            pool.start_fitting()
            pool.collect(block=True)
            pool.tick()
    except KeyboardInterrupt:
        interrupted = True
        pool.stop.set()
    except BaseException:
        pool.stop.set()
        raise
    finally:
        interrupted = pool.wait_running() or interrupted
        pool.close()
    return Finished(pool.results, pool.not_started() if interrupted else [], interrupted)


class _Positions:
    """A queue of task positions, 4 bytes each (a deque of Python ints costs ~40 bytes a task):
    appended while the pool is made, then only taken from the front."""

    def __init__(self) -> None:
        self.rows = array("I")
        self.start = 0

    def append(self, i: int) -> None:
        self.rows.append(i)

    def __bool__(self) -> bool:
        return self.start < len(self.rows)

    @property
    def head(self) -> int:
        return self.rows[self.start]

    def popleft(self) -> int:
        i = self.rows[self.start]
        self.start += 1
        return i

    def left(self) -> array[int]:
        """The positions not taken yet."""
        return self.rows[self.start :]


class _Pool:
    """One run_all's bookkeeping: the pending tasks, the task threads and the queues between them and
    the main thread, which alone starts tasks and collects their results."""

    def __init__(
        self,
        tasks: Sequence[TaskPlan],
        budget: Budget,
        execute: Callable[[TaskPlan, threading.Event], Any],
        view: View | None,
        stop: threading.Event,
        is_ok: Callable[[Any], bool],
        on_result: Callable[[Any], None] | None = None,
    ) -> None:
        self.budget, self.execute, self.view, self.stop, self.is_ok = budget, execute, view, stop, is_ok
        self.on_result = on_result
        self.tasks = tasks
        self.state = SchedulerState(budget=budget, pending=len(tasks))
        request = getattr(tasks, "request", None)  # a TaskRows reads it without making the TaskPlan
        # (cores, memory) -> positions in ``tasks``, in order: first-fit is the earliest fitting head
        self.queues: dict[tuple[int, int], _Positions] = {}
        for i in range(len(tasks)):
            need = request(i) if request is not None else (tasks[i].cores, tasks[i].memory)
            q = self.queues.get(need)
            if q is None:
                q = self.queues[need] = _Positions()
            q.append(i)
        self.pending = len(tasks)
        self.done: queue.Queue[tuple[TaskPlan, Any]] = queue.Queue()
        self.todo: queue.Queue[TaskPlan | None] = queue.Queue()
        self.results: list[Any] = []
        self.threads: list[
            threading.Thread
        ] = []  # reused task after task (a thread start per task costs ~1 ms)

    def work(self) -> None:
        """A task thread: run tasks until told to end; an exception is reported as the result."""
        while (task := self.todo.get()) is not None:
            try:
                result = self.execute(task, self.stop)
            except BaseException as exc:  # reported, and re-raised in the main thread
                result = exc
            self.done.put((task, result))

    def _first_fit(self) -> int | None:
        """The position of the first pending task (in order) that fits the free cores and memory."""
        state, budget = self.state, self.budget
        free_cores, free_memory = budget.cores - state.cores, budget.memory - state.memory
        best: int | None = None
        for (cores, memory), q in self.queues.items():
            if q and cores <= free_cores and memory <= free_memory and (best is None or q.head < best):
                best = q.head
        return best

    def start_fitting(self) -> None:
        """Start, first-fit, every pending task that fits in the free cores and memory."""
        state, budget = self.state, self.budget
        while self.pending and state.cores < budget.cores and not self.stop.is_set():
            i = self._first_fit()
            if i is None:
                return
            task = self.tasks[i]
            self.queues[(task.cores, task.memory)].popleft()
            self.pending -= 1
            state.cores += task.cores
            state.memory += task.memory
            state.pending = self.pending
            state.running[task.id] = (task, time.monotonic())
            if self.view is not None:
                self.view.started(task)
            if len(self.threads) < len(state.running):  # every running task has a thread of its own
                th = threading.Thread(target=self.work, name=f"task runner {len(self.threads)}", daemon=True)
                self.threads.append(th)
                th.start()
            self.todo.put(task)

    def not_started(self) -> list[TaskPlan]:
        """The tasks never started, in their order."""
        return [self.tasks[i] for i in sorted(i for q in self.queues.values() for i in q.left())]

    def collect(self, block: bool) -> None:
        """Take one finished task's result (waiting up to 0.1 s if ``block``) and free its budget; a task
        thread's exception is raised here."""
        try:
            task, result = self.done.get(timeout=0.1) if block else self.done.get_nowait()
        except queue.Empty:
            return
        state = self.state
        state.running.pop(task.id, None)
        state.cores -= task.cores
        state.memory -= task.memory
        if isinstance(result, BaseException):
            raise result
        state.done += 1
        state.not_ok += 0 if self.is_ok(result) else 1
        if self.on_result is not None:
            self.on_result(result)
        else:
            self.results.append(result)
        if self.view is not None:
            self.view.finished(task, result)

    def tick(self) -> None:
        if self.view is not None:
            self.view.tick(self.state)

    def wait_running(self) -> bool:
        """Wait for the running tasks' reports (each task thread ends by killing its tree); True if a
        Ctrl-C came meanwhile."""
        interrupted = False
        while self.state.running:
            try:
                self.collect(block=True)
                self.tick()
            except KeyboardInterrupt:
                interrupted = True
                self.stop.set()
        return interrupted

    def close(self) -> None:
        """End the task threads and join them."""
        for _ in self.threads:
            self.todo.put(None)
        for th in self.threads:
            th.join()
