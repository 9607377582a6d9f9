"""Background tasks: Celery (``@app.task``, ``@shared_task``, bound tasks, explicit names, class-based
tasks), RQ (``@job`` and the functions handed to ``enqueue``), Dramatiq (``@actor``) and Huey
(``@huey.task``, ``@huey.periodic_task``).

Per file, no cross-file step: a task is a task by its decorator. A file is looked at only if one of
its imports names a task queue (``celery``, ``rq``, ``dramatiq``, ``huey``, or any module or name
containing ``celery``, as in ``from proj.celery import app``); the rest of the corpus costs one pass
over its import statements. See ``docs/tables/models.md`` for the columns and the limits.
"""

from __future__ import annotations

import ast
from typing import Any

from codequarry.api import file_extractor
from codequarry.python.calls import last_name
from codequarry.python.resolve import FileNames, file_names
from codequarry.python.scopes import body_statements, enclosing_def
from codequarry.python.spans import span_getter
from codequarry.python.values import literal_str, value_text
from codequarry.schema import dataset
from codequarry.source import SourceFile


@dataset("tasks")
class Task:
    """One row per task: a decorated function, a task class, or (RQ) a function handed to ``enqueue``."""

    framework: str
    kind: str
    name: str
    qualname: str
    module: str
    task_name: str | None
    explicit_name: bool
    app: str | None
    decorator: str | None
    is_bound: bool
    is_async: bool
    is_periodic: bool
    queue: str | None
    options: list[str]
    line: int
    col: int
    end_line: int
    end_col: int


_QUEUES = ("celery", "rq", "dramatiq", "huey")
_CELERY_DECORATORS = frozenset({"task", "shared_task", "periodic_task"})
_HUEY_DECORATORS = frozenset({"task", "periodic_task", "db_task", "db_periodic_task", "lock_task"})
_ENQUEUE = {"enqueue": 0, "enqueue_call": 0, "enqueue_in": 1, "enqueue_at": 1, "schedule": 1}
_EMPTY: list[str] = []


def _frameworks(src: SourceFile) -> set[str]:
    """Task queues the file's imports name (``celery`` also for any name containing it)."""
    found: set[str] = set()
    for stmt in src.nodes(ast.Import, ast.ImportFrom):
        if stmt.__class__ is ast.Import:
            modules = [a.name for a in stmt.names]
            imported: list[str] = []
        else:
            modules = [stmt.module or ""] if not stmt.level else []
            imported = [a.name for a in stmt.names]
            if stmt.level and stmt.module:
                imported.append(stmt.module)
        for module in modules:
            top = module.partition(".")[0]
            if top in _QUEUES:
                found.add(top)
        for name in (*modules, *imported):
            if "celery" in name.lower():
                found.add("celery")
    return found


@file_extractor("python.tasks.definitions", version=1, needs=["ast"], outputs=[Task])
def tasks(src: SourceFile, out: Any) -> None:
    """Celery, RQ, Dramatiq and Huey tasks."""
    fws = _frameworks(src)
    if not fws:
        return
    names = file_names(src)
    modname = names.modname
    parent = src.parents.get
    seg = src.segment
    span = span_getter(src)
    add = out.tasks.add
    for fn in src.nodes(ast.FunctionDef, ast.AsyncFunctionDef):
        if not fn.decorator_list:
            continue
        scope = enclosing_def(parent, fn)
        for dec in fn.decorator_list:
            found = _task_decorator(dec, names, scope, fws)
            if found is None:
                continue
            fw, app = found
            call = dec if dec.__class__ is ast.Call else None
            kwargs = {kw.arg: kw.value for kw in call.keywords if kw.arg} if call is not None else {}
            explicit = _explicit_name(fw, kwargs)
            if explicit is not None:
                task_name = explicit
            elif fw == "celery":
                task_name = f"{modname}.{fn.name}"  # what Celery's gen_task_name makes of it
            elif fw == "dramatiq":
                task_name = fn.name  # the actor name
            else:
                task_name = f"{modname}.{src.qualname(fn)}"
            queue = _queue(fw, kwargs, call)
            line, col, end_line, end_col = span(fn)
            deco_name = last_name(dec) or ""
            add(
                framework=fw,
                kind="function",
                name=fn.name,
                qualname=src.qualname(fn),
                module=modname,
                task_name=task_name,
                explicit_name=explicit is not None,
                app=app,
                decorator=seg(dec, 200),
                is_bound=_is_true(kwargs.get("bind")),
                is_async=fn.__class__ is ast.AsyncFunctionDef,
                is_periodic="periodic" in deco_name or ("run_every" in kwargs),
                queue=queue,
                options=[f"{k}={value_text(seg, v)}" for k, v in kwargs.items()] or _EMPTY,
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )
            break
    if "celery" in fws:
        _celery_classes(src, names, modname, span, add)
    if "rq" in fws:
        _rq_enqueued(src, names, modname, span, add)


def _is_true(node: Any) -> bool:
    return node is not None and node.__class__ is ast.Constant and node.value is True


def _task_decorator(dec: Any, names: FileNames, scope: Any, fws: set[str]) -> tuple[str, str | None] | None:
    """(framework, app) when ``dec`` declares a task; the app is the object whose method the decorator
    is (``proj.celery.app``, as resolved or written), None for the library's own decorators."""
    func = dec.func if dec.__class__ is ast.Call else dec
    last = last_name(func)
    if last is None:
        return None
    resolved = names.resolve(func, scope)
    written = names.name(func, scope) if resolved is None else resolved
    top = (resolved or "").partition(".")[0]
    if func.__class__ is ast.Name:
        # a bare decorator: @shared_task, @task (celery < 5), @actor, @job
        if (
            top == "celery"
            and last in _CELERY_DECORATORS
            or (resolved is None and last == "shared_task" and "celery" in fws)
        ):
            return "celery", None
        if top == "dramatiq" and last == "actor":
            return "dramatiq", None
        if top == "rq" and last == "job":
            return "rq", None
        if top == "huey" and last in _HUEY_DECORATORS:
            return "huey", None
        return None
    if func.__class__ is not ast.Attribute:
        return None
    receiver = written.rsplit(".", 1)[0]
    # a decorator of the library itself (dramatiq.actor, celery.shared_task) registers on no app
    if top == "dramatiq" and last == "actor":
        return "dramatiq", None
    if top == "rq" and last == "job":
        return "rq", None
    if top == "celery" and last in _CELERY_DECORATORS:
        return "celery", None
    if last in _HUEY_DECORATORS and ("huey" in fws and ("huey" in receiver.lower() or "celery" not in fws)):
        return "huey", receiver
    if last in _CELERY_DECORATORS and "celery" in fws:
        return "celery", receiver  # @app.task, @celery_app.task, @self.app.task
    return None


def _explicit_name(fw: str, kwargs: dict[str, Any]) -> str | None:
    key = "actor_name" if fw == "dramatiq" else "name"
    node = kwargs.get(key)
    return literal_str(node) if node is not None else None


def _queue(fw: str, kwargs: dict[str, Any], call: Any) -> str | None:
    node = kwargs.get("queue_name" if fw == "dramatiq" else "queue")
    if node is None and fw == "rq" and call is not None and call.args:
        node = call.args[0]  # @job("low", connection=redis)
    if node is None:
        return None
    return literal_str(node)


def _celery_classes(src: SourceFile, names: FileNames, modname: str, span: Any, add: Any) -> None:
    """Class-based tasks: subclasses of ``celery.Task`` (or ``app.Task``) that define ``run``."""
    parent = src.parents.get
    for cls in src.nodes(ast.ClassDef):
        if not cls.bases:
            continue
        scope = enclosing_def(parent, cls)
        base = next((names.name(b, scope) for b in cls.bases if last_name(b) == "Task"), None)
        if base is None:
            continue
        stmts = body_statements(cls.body)
        if not any(s.__class__ in (ast.FunctionDef, ast.AsyncFunctionDef) and s.name == "run" for s in stmts):
            continue  # a base class for tasks, not a task
        explicit = None
        queue = None
        options = []
        for s in stmts:
            if s.__class__ is ast.Assign and len(s.targets) == 1 and s.targets[0].__class__ is ast.Name:
                key = s.targets[0].id
                if key == "name":
                    explicit = literal_str(s.value)
                elif key == "queue":
                    queue = literal_str(s.value)
                if key in (
                    "name",
                    "queue",
                    "max_retries",
                    "default_retry_delay",
                    "rate_limit",
                    "time_limit",
                    "soft_time_limit",
                    "ignore_result",
                    "acks_late",
                    "autoretry_for",
                ):
                    options.append(f"{key}={value_text(src.segment, s.value)}")
        qual = src.qualname(cls)
        line, col, end_line, end_col = span(cls)
        add(
            framework="celery",
            kind="class",
            name=cls.name,
            qualname=qual,
            module=modname,
            task_name=explicit or f"{modname}.{cls.name}",
            explicit_name=explicit is not None,
            app=base.rsplit(".", 1)[0] if "." in base and not base.startswith("celery.") else None,
            decorator=None,
            is_bound=True,
            is_async=False,
            is_periodic=False,
            queue=queue,
            options=options or _EMPTY,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )


def _rq_enqueued(src: SourceFile, names: FileNames, modname: str, span: Any, add: Any) -> None:
    """Functions handed to an RQ queue: ``q.enqueue(f, ...)``, ``enqueue_in(delta, f)``, ``func=f``."""
    parent = src.parents.get
    for call in src.nodes(ast.Call):
        func = call.func
        if func.__class__ is not ast.Attribute or func.attr not in _ENQUEUE:
            continue
        index = _ENQUEUE[func.attr]
        target = next((kw.value for kw in call.keywords if kw.arg in ("f", "func")), None)
        if target is None and len(call.args) > index:
            target = call.args[index]
        if target is None:
            continue
        scope = enclosing_def(parent, call)
        ref = literal_str(target) or names.resolve(target, scope)
        if ref is None:
            if target.__class__ not in (ast.Name, ast.Attribute):
                continue
            ref = src.segment(target, 200)
        receiver = func.value
        line, col, end_line, end_col = span(call)
        add(
            framework="rq",
            kind="enqueued",
            name=ref.rsplit(".", 1)[-1],
            qualname=ref,
            module=modname,
            task_name=ref,
            explicit_name=False,
            app=names.name(receiver, scope) if receiver.__class__ in (ast.Name, ast.Attribute) else None,
            decorator=None,
            is_bound=False,
            is_async=False,
            is_periodic=False,
            queue=None,
            options=[kw.arg for kw in call.keywords if kw.arg] or _EMPTY,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
        )
