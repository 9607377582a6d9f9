"""A task read from the plan's table is the TaskPlan model_construct would make (the table builds it
without pydantic's walk over the fields)."""

from __future__ import annotations

import json
from pathlib import Path

from codequarry.tools.plan import make_tools_plan
from codequarry.tools.planned import TaskPlan
from tests.tools.conftest import write_recipe


def test_a_task_from_the_table_equals_the_one_model_construct_makes(tmp_path: Path) -> None:
    recipe = write_recipe(
        tmp_path,
        {"t": {"command": ["/bin/echo", "{target}", "{cores}"], "targets": ["x", "y"], "env": {"A": "1"}}},
    )
    tasks = make_tools_plan(recipe).tasks
    for row in range(len(tasks)):
        fast = tasks[row]
        slow = TaskPlan.model_construct(**fast.__dict__)
        slow._row = row
        assert fast == slow
        assert fast.row == row and slow.row == row
        assert fast.model_dump() == slow.model_dump()
        assert fast.model_fields_set == slow.model_fields_set
        assert fast.__pydantic_private__ == slow.__pydantic_private__ and fast.__pydantic_extra__ is None
        assert json.loads(fast.model_dump_json())["argv"] == ["/bin/echo", fast.target, "1"]
        assert TaskPlan.model_validate(fast.model_dump()).model_dump() == fast.model_dump()
    assert tasks[0] != tasks[1]
