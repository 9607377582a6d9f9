"""The Tamarin preset: lemma discovery on real .spthy theories (tree-sitter-spthy, with the
preprocessor), classification of Tamarin's output, and a batch run with a stand-in prover."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from codequarry import open_store, sql
from codequarry.errors import UsageError
from codequarry.tools.plan import make_tools_plan
from codequarry.tools.presets import tamarin
from codequarry.tools.recipe import RecipeError
from codequarry.tools.runner import run_recipe
from tests.tools.conftest import FIXTURES, write_recipe

THEORIES = FIXTURES / "tamarin" / "theories"
OUTPUTS = FIXTURES / "tamarin" / "output"


def names(defines: set[str], theory: str = "variants.spthy") -> list[str]:
    return [lemma.name for lemma in tamarin.discover(THEORIES / theory, defines).lemmas]


def test_lemmas_of_a_plain_theory_with_their_trace_quantifier() -> None:
    theory = tamarin.discover(THEORIES / "simple.spthy")
    assert theory.name == "Simple"
    assert [(lemma.name, lemma.trace, lemma.line) for lemma in theory.lemmas] == [
        ("secrecy_key", "all-traces", 12),
        ("secrecy_strict", "all-traces", 15),
        ("executable", "exists-trace", 18),
    ]
    assert theory.notes == []


@pytest.mark.parametrize(
    "defines, expected",
    [
        (set(), ["auth_always", "auth_stable", "secrecy_local", "included_secrecy"]),
        (
            {"DEV"},
            [
                "auth_always",
                "auth_dev",
                "secrecy_local_dev",
                "secrecy_local",
                "included_secrecy",
                "included_dev",
            ],
        ),
        (
            {"DEV", "FAST"},
            [
                "auth_always",
                "auth_dev",
                "secrecy_dev_fast",
                "secrecy_local_dev",
                "secrecy_local",
                "included_secrecy",
                "included_dev",
            ],
        ),
    ],
)
def test_ifdef_else_define_and_include_are_applied(defines: set[str], expected: list[str]) -> None:
    # LOCAL comes from the theory's own #define; never_here needs neither DEV nor LOCAL
    assert names(defines) == expected


def test_included_files_are_part_of_the_theory() -> None:
    theory = tamarin.discover(THEORIES / "variants.spthy", {"DEV"})
    assert [p.name for p in theory.files] == ["variants.spthy", "extra.splib"]
    included = next(lemma for lemma in theory.lemmas if lemma.name == "included_dev")
    assert included.trace == "exists-trace" and included.file.endswith("lib/extra.splib")


def test_unparsable_parts_are_reported_not_hidden(tmp_path: Path) -> None:
    broken = tmp_path / "broken.spthy"
    broken.write_text('theory B\nbegin\nlemma ok: "T"\nrule R: [ ] --[ ]-> [\nlemma after: "T"\nend\n')
    theory = tamarin.discover(broken)
    assert theory.notes and "could not parse" in theory.notes[0]


@pytest.mark.parametrize("case", sorted(p.stem for p in OUTPUTS.glob("*.json")))
def test_classification_of_recorded_tamarin_output(case: str) -> None:
    meta = json.loads((OUTPUTS / f"{case}.json").read_text())
    output = (OUTPUTS / f"{case}.stdout").read_text() + "\n" + (OUTPUTS / f"{case}.stderr").read_text()
    got = tamarin.classify(meta["lemma"], meta["exit_code"], output)
    expect = meta["expect"]
    assert (got.result, got.trace, got.steps, got.tamarin_seconds, got.warnings, got.failed) == (
        expect["result"],
        expect["trace"],
        expect["steps"],
        expect["tamarin_seconds"],
        expect["warnings"],
        expect["failed"],
    )


def test_missing_grammar_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tree_sitter_spthy", None)
    with pytest.raises(UsageError, match=r"pip install 'codequarry\[tamarin\]'"):
        tamarin.parser()


def tamarin_tool(exe: Path, **more: object) -> dict[str, object]:
    return {
        "preset": "tamarin",
        "theories": [str(THEORIES / "*.spthy")],
        "executables": {"stable": str(exe)},
        "resources": {"cores": 2, "memory": 1, "timeout": 5},
        **more,
    }


def test_plan_one_task_per_theory_lemma_and_executable(tmp_path: Path, fake_tamarin: Path) -> None:
    recipe = write_recipe(
        tmp_path,
        {
            "tam": tamarin_tool(
                fake_tamarin,
                lemmas=["secrecy*", "auth_dev"],
                defines=["DEV"],
                extra_args=["--derivcheck-timeout=0"],
                executables={"stable": str(fake_tamarin), "dev": str(fake_tamarin)},
            )
        },
    )
    plan = make_tools_plan(recipe)
    ids = [t.id for t in plan.tasks]
    v = str(THEORIES / "variants.spthy")
    s = str(THEORIES / "simple.spthy")
    assert ids == [
        f"tam:{s}:secrecy_key@stable",
        f"tam:{s}:secrecy_key@dev",
        f"tam:{s}:secrecy_strict@stable",
        f"tam:{s}:secrecy_strict@dev",
        f"tam:{v}:auth_dev@stable",
        f"tam:{v}:auth_dev@dev",
        f"tam:{v}:secrecy_local_dev@stable",
        f"tam:{v}:secrecy_local_dev@dev",
        f"tam:{v}:secrecy_local@stable",
        f"tam:{v}:secrecy_local@dev",
    ]
    task = plan.tasks[0]
    assert task.argv == (
        str(fake_tamarin),
        "+RTS",
        "-N2",
        "-RTS",
        "--prove=secrecy_key",
        "-D=DEV",
        "--derivcheck-timeout=0",
        s,
    )
    assert task.group == s and task.lemma == "secrecy_key" and task.executable == "stable"
    included = next(t for t in plan.tasks if "variants" in t.target)
    assert any(p.endswith("lib/extra.splib") for p, _ in included.inputs)  # an #include is an input too


def test_bad_tamarin_recipes(tmp_path: Path, fake_tamarin: Path) -> None:
    recipe = write_recipe(
        tmp_path, {"tam": tamarin_tool(fake_tamarin, executables={"dev": "~/no/such/tamarin"})}
    )
    with pytest.raises(
        RecipeError, match=r"tools\.tam\.executables\.dev: executable '~/no/such/tamarin' not found"
    ):
        make_tools_plan(recipe)
    recipe = write_recipe(tmp_path, {"tam": tamarin_tool(fake_tamarin, lemmas=["nothing_like_this*"])})
    with pytest.raises(
        RecipeError, match=r"tools\.tam\.lemmas: no lemma of .* matches \['nothing_like_this\*'\]"
    ):
        make_tools_plan(recipe)


def test_batch_run_writes_tamarin_results_and_statuses(tmp_path: Path, fake_tamarin: Path) -> None:
    theory = tmp_path / "cases.spthy"
    theory.write_text(
        'theory Cases\nbegin\nlemma holds: "T"\nlemma broken_false: "F"\nlemma spin_loop: "T"\n'
        'lemma blows_crash: "T"\nend\n'
    )
    tool = {
        "preset": "tamarin",
        "theories": ["cases.spthy"],
        "executables": {"stable": str(fake_tamarin)},
        "resources": {"cores": 1, "memory": 1, "timeout": 1.5},
    }
    summary = run_recipe(make_tools_plan(write_recipe(tmp_path, {"tam": tool})))
    assert summary.exit_code == 1
    rows = sql(
        open_store(tmp_path / ".quarry"),
        "SELECT lemma, executable, status, result, trace, steps, "
        "tamarin_seconds, path FROM tamarin_results ORDER BY lemma",
    )
    got = {r["lemma"]: r for r in rows.to_pylist()}
    assert (got["holds"]["status"], got["holds"]["result"], got["holds"]["steps"]) == ("ok", "verified", 4)
    assert (got["broken_false"]["status"], got["broken_false"]["result"]) == ("ok", "falsified")
    assert (got["spin_loop"]["status"], got["spin_loop"]["result"]) == ("timeout", None)
    assert got["blows_crash"]["status"] == "failed"
    assert got["holds"]["path"] == "cases.spthy" and got["holds"]["executable"] == "stable"
    assert got["holds"]["tamarin_seconds"] == 0.05
    # one more lemma selected: it runs; the theory's other results come back from the cache
    tool["lemmas"] = ["holds", "broken_false", "blows_crash", "spin_loop", "extra"]
    theory.write_text(theory.read_text().replace("end\n", 'lemma extra: "T"\nend\n'))
    tool["inputs"] = []
    again = run_recipe(make_tools_plan(write_recipe(tmp_path, {"tam": tool})))
    assert sorted(r.task.lemma or "" for r in again.results if not r.cached) == [
        "blows_crash",
        "broken_false",
        "extra",
        "holds",
        "spin_loop",
    ]  # the theory changed: every key did
    tool["lemmas"] = ["holds", "extra"]
    third = run_recipe(make_tools_plan(write_recipe(tmp_path, {"tam": tool})))
    assert [r.task.lemma for r in third.results if not r.cached] == []
    rows = sql(open_store(tmp_path / ".quarry"), "SELECT lemma, result FROM tamarin_results ORDER BY lemma")
    assert rows.to_pylist() == [
        {"lemma": "extra", "result": "verified"},
        {"lemma": "holds", "result": "verified"},
    ]
    tool["lemmas"] = ["holds", "extra", "broken_false"]
    fourth = run_recipe(make_tools_plan(write_recipe(tmp_path, {"tam": tool})))
    assert [r.task.lemma for r in fourth.results if not r.cached] == []  # restored from the cache, not run
    rows = sql(open_store(tmp_path / ".quarry"), "SELECT lemma, result FROM tamarin_results ORDER BY lemma")
    assert [r["lemma"] for r in rows.to_pylist()] == ["broken_false", "extra", "holds"]
    runs = sql(
        open_store(tmp_path / ".quarry"), "SELECT lemma, cached FROM tool_runs ORDER BY lemma"
    ).to_pylist()
    assert runs == [
        {"lemma": "broken_false", "cached": True},
        {"lemma": "extra", "cached": True},
        {"lemma": "holds", "cached": True},
    ]
