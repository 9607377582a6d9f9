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
    stop = stop or threading.Event()
    state = SchedulerState(budget=budget, pending=len(tasks))
    pending = list(tasks)
    done: queue.Queue[tuple[TaskPlan, Any]] = queue.Queue()
    todo: queue.Queue[TaskPlan | None] = queue.Queue()
    results: list[Any] = []
    threads: list[threading.Thread] = []  # reused for task after task (a thread start per task costs ~1 ms)

    def work() -> None:
        while (task := todo.get()) is not None:
            try:
                result = execute(task, stop)
            except BaseException as exc:  # reported, and re-raised in the main thread
                result = exc
            done.put((task, result))

    def start_fitting() -> None:
        i = 0
        while i < len(pending) and state.cores < budget.cores and not stop.is_set():
            task = pending[i]
            if task.cores <= budget.cores - state.cores and task.memory <= budget.memory - state.memory:
                pending.pop(i)
                state.cores += task.cores
                state.memory += task.memory
                state.pending = len(pending)
                state.running[task.id] = (task, time.monotonic())
                if view is not None:
                    view.started(task)
                if len(threads) < len(state.running):  # every running task has a thread of its own
                    th = threading.Thread(target=work, name=f"task runner {len(threads)}", daemon=True)
                    threads.append(th)
                    th.start()
                todo.put(task)
            else:
                i += 1

    def collect(block: bool) -> None:
        try:
            task, result = done.get(timeout=0.1) if block else done.get_nowait()
        except queue.Empty:
            return
        state.running.pop(task.id, None)
        state.cores -= task.cores
        state.memory -= task.memory
        if isinstance(result, BaseException):
            raise result
        state.done += 1
        state.not_ok += 0 if is_ok(result) else 1
        results.append(result)
        if view is not None:
            view.finished(task, result)

    interrupted = False
    try:
        while pending or state.running:
            start_fitting()
            collect(block=True)
            if view is not None:
                view.tick(state)
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
    except BaseException:
        stop.set()
        raise
    finally:
        while state.running:  # every task thread ends by killing its tree; wait for their reports
            try:
                collect(block=True)
                if view is not None:
                    view.tick(state)
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
        for _ in threads:
            todo.put(None)
        for th in threads:
            th.join()
    return Finished(results, pending if interrupted else [], interrupted)
