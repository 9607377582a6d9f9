"""Tasks packed under global budgets: the sum of the running tasks' cores and memory stays within them.

Tasks are taken in the chosen order (``fifo`` as planned; ``shortest`` or ``longest`` first by the
wall time of the previous run, tasks never run before coming last) and started first-fit: the
first pending task that fits in the free cores and memory starts, so small tasks fill the gaps a
large one leaves. Each running task runs in a thread (reused from task to task) that owns its process tree; the main thread only
starts tasks and collects results, so Ctrl-C lands there, sets ``stop``, and every task thread
then kills its tree and reports ``killed``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from codequarry.tools.planned import Budget, TaskPlan

ORDERS = ("fifo", "shortest", "longest")


def order_tasks(tasks: list[TaskPlan], order: str, durations: dict[str, float]) -> list[TaskPlan]:
    if order == "fifo":
        return list(tasks)
    known = [t for t in tasks if t.id in durations]
    unknown = [t for t in tasks if t.id not in durations]
    known.sort(key=lambda t: durations[t.id], reverse=order == "longest")
    return known + unknown


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
    results: list[Any]
    not_started: list[TaskPlan]
    interrupted: bool


def run_all(
    tasks: list[TaskPlan],
    budget: Budget,
    execute: Callable[[TaskPlan, threading.Event], Any],
    *,
    view: View | None = None,
    stop: threading.Event | None = None,
    is_ok: Callable[[Any], bool] = lambda r: True,
) -> Finished:
    """Run ``execute(task, stop)`` for every task under the budgets; returns results in completion order."""
    pool = _Pool(tasks, budget, execute, view, stop or threading.Event(), is_ok)
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
    return Finished(pool.results, list(pool.pending) if interrupted else [], interrupted)


class _Pool:
    """One run_all's bookkeeping: the pending tasks, the task threads and the queues between them and
    the main thread, which alone starts tasks and collects their results."""

    def __init__(
        self,
        tasks: list[TaskPlan],
        budget: Budget,
        execute: Callable[[TaskPlan, threading.Event], Any],
        view: View | None,
        stop: threading.Event,
        is_ok: Callable[[Any], bool],
    ) -> None:
        self.budget, self.execute, self.view, self.stop, self.is_ok = budget, execute, view, stop, is_ok
        self.state = SchedulerState(budget=budget, pending=len(tasks))
        self.pending = deque(tasks)  # first-fit takes mostly from the front: O(1) there, not a list's O(n)
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

    def start_fitting(self) -> None:
        """Start, first-fit, every pending task that fits in the free cores and memory."""
        state, budget, pending = self.state, self.budget, self.pending
        i = 0
        while i < len(pending) and state.cores < budget.cores and not self.stop.is_set():
            task = pending[i]
            if task.cores <= budget.cores - state.cores and task.memory <= budget.memory - state.memory:
                del pending[i]
                state.cores += task.cores
                state.memory += task.memory
                state.pending = len(pending)
                state.running[task.id] = (task, time.monotonic())
                if self.view is not None:
                    self.view.started(task)
                if len(self.threads) < len(state.running):  # every running task has a thread of its own
                    th = threading.Thread(
                        target=self.work, name=f"task runner {len(self.threads)}", daemon=True
                    )
                    self.threads.append(th)
                    th.start()
                self.todo.put(task)
            else:
                i += 1

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
