"""Tasks packed under global budgets: the sum of the running tasks' cores and memory stays within them.

Tasks are taken in the chosen order (``fifo`` as planned; ``shortest`` or ``longest`` first by the
wall time of the previous run, tasks never run before coming last) and started first-fit: the
first pending task that fits in the free cores and memory starts, so small tasks fill the gaps a
large one leaves. Pending tasks are kept as positions, in one queue per (cores, memory) request:
the first that fits is the earliest head among the queues whose request fits, so a collect costs
the number of distinct requests (a handful), not the number of pending tasks. Each running task runs in a thread (reused from task to task) that owns its process tree. A task thread whose
task has ended starts the next fitting task itself, at once (under the pool's lock), and hands the
result to the main thread, which collects results (the tool_runs rows, the views) meanwhile and
starts what else fits: a trivial task then costs no wait for the main thread to be scheduled, twice,
on a busy machine. Ctrl-C lands in the main thread, sets ``stop`` (no thread starts a task after
that), and every task thread then kills its tree and reports ``killed``.
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
        while (pool.pending and not pool.stop.is_set()) or pool.state.running or pool.unreported():
            pool.start_fitting()
            pool.collect(block=True)
            pool.tick()
        interrupted = pool.stop.is_set() and pool.pending > 0  # stopped from outside
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
        # (a finished task, its result, the task its thread started next or None)
        self.done: queue.Queue[tuple[TaskPlan, Any, TaskPlan | None]] = queue.Queue()
        self.lock = threading.Lock()  # the pending queues and the budget, taken by every thread
        self.started = 0  # tasks started (under the lock)
        self.collected = 0  # results collected (by the main thread)
        self.todo: queue.Queue[TaskPlan | None] = queue.Queue()
        self.results: list[Any] = []
        self.threads: list[
            threading.Thread
        ] = []  # reused task after task (a thread start per task costs ~1 ms)

    def work(self) -> None:
        """A task thread: run tasks until told to end; an exception is reported as the result. When a
        task ends, its budget is freed and the next task that fits is started here, in one step."""
        task = self.todo.get()
        while task is not None:
            try:
                result = self.execute(task, self.stop)
            except BaseException as exc:  # reported, and re-raised in the main thread
                result = exc
            with self.lock:
                self._free(task)
                after = None if isinstance(result, BaseException) else self._take()
                self.done.put((task, result, after))  # before the lock goes: never seen as lost
            task = after if after is not None else self.todo.get()

    def unreported(self) -> int:
        """Tasks started whose results the main thread has not collected yet."""
        return self.started - self.collected

    def _free(self, task: TaskPlan) -> None:
        """(Under the lock.) The task's cores and memory back to the budget."""
        state = self.state
        state.running.pop(task.id, None)
        state.cores -= task.cores
        state.memory -= task.memory

    def _take(self) -> TaskPlan | None:
        """(Under the lock.) The first pending task (in order) that fits the free cores and memory,
        marked running; None when none fits or the run is stopping."""
        state, budget = self.state, self.budget
        if not self.pending or state.cores >= budget.cores or self.stop.is_set():
            return None
        i = self._first_fit()
        if i is None:
            return None
        task = self.tasks[i]
        self.queues[(task.cores, task.memory)].popleft()
        self.pending -= 1
        self.started += 1
        state.cores += task.cores
        state.memory += task.memory
        state.pending = self.pending
        state.running[task.id] = (task, time.monotonic())
        return task

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
        while True:
            with self.lock:
                task = self._take()
                if task is None:
                    return
                if len(self.threads) < len(self.state.running):  # every running task has a thread
                    th = threading.Thread(
                        target=self.work, name=f"task runner {len(self.threads)}", daemon=True
                    )
                    self.threads.append(th)
                    th.start()
            if self.view is not None:
                self.view.started(task)
            self.todo.put(task)

    def not_started(self) -> list[TaskPlan]:
        """The tasks never started, in their order."""
        return [self.tasks[i] for i in sorted(i for q in self.queues.values() for i in q.left())]

    def collect(self, block: bool) -> None:
        """Take one finished task's result (waiting up to 0.1 s if ``block``; its thread has freed its
        budget) and report the task its thread started next; a task thread's exception is raised here."""
        try:
            task, result, after = self.done.get(timeout=0.1) if block else self.done.get_nowait()
        except queue.Empty:
            return
        self.collected += 1
        state = self.state
        if after is not None and self.view is not None:
            self.view.started(after)
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
        while self.state.running or self.unreported():
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
