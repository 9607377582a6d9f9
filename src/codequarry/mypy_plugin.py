"""A mypy plugin that types a ``@dataset`` class as the :class:`~codequarry.schema.DatasetSpec` it becomes.

At run time ``@dataset("acme_env_reads")`` replaces the class with a ``DatasetSpec``; mypy, though,
ignores what a class decorator returns and keeps seeing the class, so ``outputs=[EnvRead]`` and
``EnvRead.schema`` would be type errors. The plugin tells mypy the truth in the one way mypy allows:
the class object's type gets ``DatasetSpec`` as its metaclass, so ``EnvRead`` is accepted wherever a
``DatasetSpec`` is expected and ``EnvRead.name``, ``.schema``, ``.field_names`` ... have their
``DatasetSpec`` types. Enable it in the project that declares datasets::

    [tool.mypy]
    plugins = ["codequarry.mypy_plugin"]

Only mypy imports this module; codequarry itself never does.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import TypeInfo
from mypy.plugin import ClassDefContext, Plugin
from mypy.types import Instance

DECORATOR = "codequarry.schema.dataset"
SPEC = "codequarry.schema.DatasetSpec"


def _as_spec(ctx: ClassDefContext) -> bool:
    """Make the decorated class object a ``DatasetSpec`` for mypy (through its metaclass type)."""
    sym = ctx.api.lookup_fully_qualified_or_none(SPEC)
    if sym is None or not isinstance(sym.node, TypeInfo):
        return True  # hooks run after the semantic pass: a missing DatasetSpec will not appear later
    ctx.cls.info.metaclass_type = Instance(sym.node, [])
    return True


class DatasetPlugin(Plugin):
    """Hooks ``codequarry.schema.dataset`` (also when imported as ``codequarry.dataset``)."""

    def get_class_decorator_hook_2(self, fullname: str) -> Callable[[ClassDefContext], bool] | None:
        return _as_spec if fullname == DECORATOR else None


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point: the plugin class, whatever the mypy version."""
    return DatasetPlugin
