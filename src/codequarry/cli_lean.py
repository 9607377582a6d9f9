"""The body of `quarry extract`, callable without typer: the command line the fast path's parser reads
(fastpath.parse) runs here directly, and the typer command (cli_extract.extract) calls the same code.

typer, click and rich cost ~0.1 s of a one-file run (docs/fast-path.md). This path imports neither
typer nor the other commands' modules, and imports rich only to draw on a terminal (a progress bar,
styled text): output that goes to a file or a pipe is the plain text rich would have printed there,
written directly. A line it cannot be sure rich would print unchanged (one with a ``[`` or an emoji
code such as ``:x:`` outside its own markup) is handed to rich after all.
"""

from __future__ import annotations

import atexit
import gc
import os
import re
import sys
import time
from typing import Any, Protocol

#: what makes rich style or rewrite text: markup tags and emoji codes (rich's own emoji pattern)
_MARKUP = ("[bold]", "[/]")
_EMOJI = re.compile(r":(\S*?)(?:-(?:emoji|text))?:")
#: rich decides on a terminal by these too; with any set, output goes through rich (as fastpath.py)
_CONSOLE_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES")


#: where the start-up pause of the cyclic GC stands: "paused", then "frozen" (see _pause_gc)
_gc_state: list[str] = []


def _pause_gc() -> None:
    """Pause the cyclic GC for the start-up of a run (imports and ``make_plan``), and skip it at exit.

    A one-file run allocates some 600,000 long-lived objects while importing pyarrow, deltalake,
    pydantic and the extractor modules; the collector walks them again and again meanwhile, and the
    interpreter's final collections walk them once more at exit (together 0.1-0.3 s of CPU of a
    one-file run here, docs/fast-path.md). Imports make almost no garbage, so the collector is
    paused until :func:`_resume_gc` freezes what start-up made (``gc.freeze``: those objects are not
    examined again) and resumes it for the run, whose garbage it collects as usual. At exit every
    object is frozen: the process is ending and the final collections would reclaim nothing that
    matters; ``atexit`` handlers and ``weakref.finalize`` callbacks run as before (they do not
    depend on the collector). A caller that disabled the collector itself is left alone."""
    if _gc_state or not gc.isenabled():
        return
    gc.disable()
    _gc_state.append("paused")
    if not _exit_hook:
        atexit.register(_freeze_at_exit)
        _exit_hook.append(True)


def _resume_gc() -> None:
    """End the start-up pause: freeze what start-up allocated and collect as usual from here."""
    if _gc_state == ["paused"]:
        _gc_state[0] = "frozen"
        gc.freeze()
        gc.enable()


def _end_gc_pause() -> None:
    """After the run: an in-process caller (a test) gets the collector back as it was, nothing frozen."""
    if _gc_state:
        if _gc_state == ["paused"]:
            gc.enable()
        else:
            gc.unfreeze()
        _gc_state.clear()


_exit_hook: list[bool] = []


def _freeze_at_exit() -> None:
    gc.disable()
    gc.freeze()


class Console(Protocol):
    """What the command prints through: a rich Console, or :class:`PlainConsole`."""

    @property
    def is_terminal(self) -> bool: ...

    def print(self, text: str, *, markup: bool = True) -> None: ...


def rich_console(*, stderr: bool) -> Any:
    """The console cli_common makes (same options), for a terminal."""
    from rich.console import Console as RichConsole

    return RichConsole(stderr=stderr, highlight=False, soft_wrap=True)


class PlainConsole:
    """Writes what a rich Console with ``highlight=False, soft_wrap=True`` writes to a non-terminal:
    the text without its markup. Lines it cannot render exactly go to a rich console."""

    is_terminal = False

    def __init__(self, *, stderr: bool) -> None:
        self.stderr = stderr
        self._rich: Any = None

    def print(self, text: str, *, markup: bool = True) -> None:
        plain = plain_text(text, markup=markup)
        if plain is None:
            if self._rich is None:
                self._rich = rich_console(stderr=self.stderr)
            self._rich.print(text, markup=markup)
            return
        stream = sys.stderr if self.stderr else sys.stdout
        stream.write(plain + "\n")
        stream.flush()


def plain_text(text: str, *, markup: bool = True) -> str | None:
    """``text`` as rich prints it to a non-terminal, or None when that is not certain here."""
    if markup:
        for tag in _MARKUP:
            text = text.replace(tag, "")
        if "[" in text:
            return None
    if _EMOJI.search(text):
        return None
    return text


def consoles() -> tuple[Console, Console]:
    """(stdout, stderr) consoles: plain writers unless a terminal or rich's environment is involved."""
    if any(k in os.environ for k in _CONSOLE_ENV):
        return rich_console(stderr=False), rich_console(stderr=True)
    out: Console = rich_console(stderr=False) if sys.stdout.isatty() else PlainConsole(stderr=False)
    err: Console = rich_console(stderr=True) if sys.stderr.isatty() else PlainConsole(stderr=True)
    return out, err


class Progress:
    """A progress bar on stderr, shown only on a terminal and only once a run has lasted a second."""

    def __init__(self, enabled: bool, err: Console) -> None:
        self.enabled = enabled and err.is_terminal
        self.err: Any = err  # a rich Console when enabled
        self.start = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, files: int, nbytes: int, total_files: int, total_bytes: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.start < 1.0:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("extracting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files"),
                TextColumn("{task.fields[rate]:>8} files/s"),
                TimeRemainingColumn(),
                console=self.err,
                transient=True,
            )
            self.task = self.bar.add_task("extract", total=total_files, rate="")
            self.bar.start()
        rate = files / max(1e-9, time.perf_counter() - self.start)
        self.bar.update(self.task, completed=files, rate=f"{rate:,.0f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def render_summary(s: Any, out: Console, warnings: tuple[str, ...] = ()) -> None:
    """The summary `quarry extract` prints after a run."""
    skipped = ", ".join(f"{v} {k}" for k, v in s.skipped.items()) or "none"
    out.print(
        f"[bold]{s.files_scanned}[/] files scanned: [bold]{s.changed}[/] changed ({s.added} added, "
        f"{s.modified} modified, {s.deleted} deleted), {s.unchanged} unchanged"
    )
    for repo, names in s.rerun.items():
        if s.unchanged:
            out.print(f"re-run on every file of {repo}: {', '.join(names)} (new or new version)")
    for repo, names in s.dropped.items():
        out.print(f"dropped from {repo}: {', '.join(names)} (no longer selected)")
    out.print(
        f"{s.files_parsed} parsed, skipped: {skipped}; {s.errors} errors; "
        f"{s.seconds:.2f} s with {s.workers} worker(s)"
    )
    if s.rows and any(s.rows.values()):
        out.print("rows written: " + ", ".join(f"{k} {v:,}" for k, v in s.rows.items() if v))
    if s.published:
        out.print(f"snapshot {s.snapshot} published to {s.store}")
    else:
        out.print(f"nothing to do: snapshot {s.snapshot} of {s.store} is up to date")
    from codequarry.errors import printable

    for note in s.notes:
        if note not in warnings:
            out.print(printable(f"note: {note}"))
    for repo, path, reason in s.skipped_files[:10]:  # a FIFO's name is the repository's: escaped
        out.print(printable(f"skipped {repo}/{path}: {reason}"), markup=False)
    if len(s.skipped_files) > 10:
        out.print("(more skipped files: quarry extract --json, field skipped_files)")


def run(
    sources: list[Any],
    *,
    out: Any,
    err: Any,
    interrupt_code: Any,
    store: Any = None,
    workers: int | None = None,
    exclude: list[str] | None = None,
    select: list[str] | None = None,
    deselect: list[str] | None = None,
    plugin: list[str] | None = None,
    max_file_size: str = "10MB",
    file_timeout: float = 60.0,
    max_memory: str | None = None,
    engine: str = "local",
    address: str | None = None,
    strict: bool = False,
    quiet: bool = False,
    as_json: bool = False,
    repo: str | None = None,
    include_generated: bool = False,
) -> int:
    """Scan SOURCES, extract, publish; the exit code (a QuarryError goes to the caller).

    ``interrupt_code()`` is the exit code of a run stopped by Ctrl-C or SIGTERM (130 or 143)."""
    import json

    from codequarry import fastpath
    from codequarry.plan import make_plan, parse_memory, parse_size
    from codequarry.run import extract as run_extract

    options = fastpath.options_of(
        sources,
        store=store,
        workers=workers,
        exclude=exclude,
        select=select,
        deselect=deselect,
        plugin=plugin,
        max_file_size=max_file_size,
        file_timeout=file_timeout,
        max_memory=max_memory,
        engine=engine,
        address=address,
        repo=repo,
        include_generated=include_generated,
    )
    plan = make_plan(
        sources,
        store=store,
        workers=workers,
        exclude=exclude or (),
        plugins=plugin or (),
        select=select or (),
        deselect=deselect or (),
        max_file_size=parse_size(max_file_size),
        file_timeout=file_timeout,
        max_memory_per_worker=parse_memory(max_memory) if max_memory else None,
        engine=engine,
        address=address,
        repo=repo,
        include_generated=include_generated,
    )
    _resume_gc()  # start-up is over (see _pause_gc)
    for warning in plan.warnings:
        err.print(f"warning: {warning}", markup=False)
    progress = Progress(enabled=not quiet, err=err)
    try:
        summary = run_extract(plan, progress=progress, after=_stamper(options, plan))
    except KeyboardInterrupt:
        progress.close()
        err.print("interrupted: nothing was published; the store still holds its previous snapshot")
        return int(interrupt_code())
    finally:
        progress.close()
    if as_json:
        out.print_json(json.dumps(summary.to_json()))
    elif not quiet:
        render_summary(summary, out, warnings=plan.warnings)
    if strict and (summary.errors or summary.errors_stored):
        # the store's state for these sources, not only this run's rows: a re-run that changed nothing
        # still fails while an error row of an unchanged file stands
        err.print(
            f"--strict: {max(summary.errors, summary.errors_stored)} error rows for these sources in the "
            f'store, {summary.errors} written by this run (see: quarry sql "SELECT * FROM errors")'
        )
        return 1
    return 0


def _stamper(options: dict[str, Any], plan: Any) -> Any:
    """What the run calls when done, under its lock: the no-op stamp of the fast path (stamp.py)."""
    from codequarry import fastpath, stamp

    roots = list(plan.request.sources)
    key = stamp.request_key(options, roots, str(plan.store), fastpath.cores())

    def after(summary: Any, txn: Any, recorder: Any) -> None:
        def render(s: Any, styled: bool) -> str:
            from io import StringIO

            from rich.console import Console as RichConsole

            buf = StringIO()
            console = RichConsole(
                file=buf,
                force_terminal=styled,
                color_system="standard" if styled else None,
                highlight=False,
                soft_wrap=True,
            )
            render_summary(s, console, warnings=plan.warnings)
            return buf.getvalue()

        try:
            stamp.stamp_run(key, roots, plan.request.exclude, plan.warnings, render, summary, txn, recorder)
        except Exception:  # noqa: BLE001 - a stamp only saves the next run time: it never fails this one
            stamp.forget(plan.store)

    return after


def main(argv: list[str]) -> int | None:
    """Run an ``extract`` command line the fast path's parser reads exactly (see fastpath.parse)
    without typer: the exit code, or None when the typer app must read it (``--json``, anything the
    parser is not sure of)."""
    import signal

    from codequarry.fastpath import parse

    req = parse(argv)
    if req is None or req.get("as_json"):
        return None
    from pathlib import Path

    sigterm: list[bool] = []

    def on_sigterm(_sig: int, _frame: Any) -> None:
        sigterm.append(True)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)  # stop like Ctrl-C: workers killed, nothing published
    from codequarry.errors import QuarryError, printable
    from codequarry.pandas_probe import skip_pandas_probe

    out, err = consoles()
    values = {k: v for k, v in req.values.items() if k != "no_fast_path"}
    if "store" in values:
        values["store"] = Path(values["store"])
    _pause_gc()
    try:
        skip_pandas_probe()  # see cli_app.main
        return run(
            [Path(s) for s in req.sources],
            out=out,
            err=err,
            interrupt_code=lambda: 143 if sigterm else 130,
            **values,
        )
    except QuarryError as exc:
        message = printable(str(exc))  # it may quote a file's name: no escape reaches the terminal
        if err.is_terminal:
            from rich.markup import escape

            err.print(f"[red]error:[/] {escape(message)}")
        else:
            err.print(f"error: {message}", markup=False)  # what rich prints of the line above, off a terminal
        return exc.exit_code
    except KeyboardInterrupt:
        return 143 if sigterm else 130
    finally:
        _end_gc_pause()
