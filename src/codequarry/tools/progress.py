"""The views of a run: the live view (running, pending, done and failed tasks, and the cores and
memory in use), the quiet one, and the wrappers the runner puts around either.

On a terminal it is a rich Live panel on stderr, redrawn a few times a second, showing each running
task with its elapsed time and the last line it wrote to stderr (a JSON-lines tool's progress).
Elsewhere (a pipe, CI) it prints one line per task that did not end ok, so logs stay short.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from codequarry.errors import printable
from codequarry.tools.planned import TaskPlan
from codequarry.tools.process import NOT_OK
from codequarry.tools.scheduler import SchedulerState

if TYPE_CHECKING:
    from codequarry.progress import ProgressFile
    from codequarry.tools.results import RunRows

GB = 1 << 30


class PlainView:
    """A line per task that did not end ok (for logs)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def started(self, task: TaskPlan) -> None: ...

    def line(self, task: TaskPlan, text: str) -> None: ...

    def tick(self, state: SchedulerState) -> None: ...

    def finished(self, task: TaskPlan, result: Any) -> None:
        if result.status in NOT_OK:
            self.console.print(
                printable(f"{result.status}: {task.id}: {result.outcome.get('message') or ''}"),
                markup=False,
                highlight=False,
                emoji=False,
            )

    def close(self) -> None: ...


class LiveView:
    """A live panel of the run on a terminal."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.last: dict[str, str] = {}
        self.state: SchedulerState | None = None
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._live = Live(console=console, refresh_per_second=4, transient=True, get_renderable=self._render)
        self._live.start()

    def started(self, task: TaskPlan) -> None: ...

    def line(self, task: TaskPlan, text: str) -> None:
        with self._lock:
            self.last[task.id] = printable(text)  # a tool's own line: no escape reaches the terminal

    def tick(self, state: SchedulerState) -> None:
        self.state = state

    def finished(self, task: TaskPlan, result: Any) -> None:
        with self._lock:
            self.last.pop(task.id, None)
            if result.status in NOT_OK:
                self.failed.append(printable(f"{result.status}: {task.id}"))

    def close(self) -> None:
        self._live.stop()

    def _render(self) -> Any:
        s = self.state
        if s is None:
            return Text("starting...")
        b = s.budget
        head = Text(
            f"{s.done}/{self.total} done, {len(s.running)} running, {s.pending} pending, "
            f"{s.not_ok} not ok | cores {s.cores}/{b.cores}, memory {s.memory / GB:.1f}/{b.memory / GB:.1f} GB"
        )
        grid = Table(box=None, pad_edge=False, show_header=False)
        grid.add_column(no_wrap=True, max_width=60, overflow="ellipsis")
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis", max_width=70)
        now = time.monotonic()
        with self._lock:
            running = list(s.running.values())[:12]
            for task, start in running:
                grid.add_row(printable(task.id), f"{now - start:6.1f}s", self.last.get(task.id, ""))
            failed = self.failed[-5:]
        parts: list[Any] = [head, grid]
        if len(s.running) > 12:
            parts.append(Text(f"... and {len(s.running) - 12} more running"))
        parts += [Text(f, style="red") for f in failed]
        return Group(*parts)


class StreamedView:
    """Another view, plus each finished task's tool_runs row handed to ``rows`` (in the order the
    scheduler collects results, the order of ``Finished.results``), but those of ``held`` tools,
    whose outcome changes after the run (schema = "infer")."""

    def __init__(self, inner: Any, rows: RunRows, held: set[str]) -> None:
        self.inner, self.rows, self.held = inner, rows, held

    def started(self, task: TaskPlan) -> None:
        self.inner.started(task)

    def finished(self, task: TaskPlan, result: Any) -> None:
        if task.tool not in self.held:
            self.rows.add(task, result.outcome)
        self.inner.finished(task, result)

    def tick(self, state: Any) -> None:
        self.inner.tick(state)

    def line(self, task: TaskPlan, text: str) -> None:
        self.inner.line(task, text)

    def close(self) -> None:
        self.inner.close()


class NullView:
    def started(self, task: TaskPlan) -> None: ...
    def finished(self, task: TaskPlan, result: Any) -> None: ...
    def tick(self, state: Any) -> None: ...
    def line(self, task: TaskPlan, text: str) -> None: ...
    def close(self) -> None: ...


class TrackedView:
    """Another view, plus the store's progress file (tasks done of tasks to run) for `quarry serve`."""

    def __init__(self, inner: Any, tracker: ProgressFile, total: int) -> None:
        self.inner, self.tracker, self.total, self.done = inner, tracker, total, 0
        self._lock = threading.Lock()
        tracker.update(0, total, stage="tools", force=True)

    def started(self, task: TaskPlan) -> None:
        self.inner.started(task)

    def finished(self, task: TaskPlan, result: Any) -> None:
        self.inner.finished(task, result)
        with self._lock:
            self.done += 1
            self.tracker.update(self.done, self.total, stage="tools")

    def tick(self, state: Any) -> None:
        self.inner.tick(state)

    def line(self, task: TaskPlan, text: str) -> None:
        self.inner.line(task, text)

    def close(self) -> None:
        self.inner.close()


def make_view(console: Console, total: int, *, quiet: bool) -> Any:
    if quiet:
        return NullView()
    if console.is_terminal:
        return LiveView(console, total)
    return PlainView(console)
