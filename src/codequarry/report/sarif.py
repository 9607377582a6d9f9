"""SARIF 2.1.0 from the store: ``security_findings`` (and, on request, ``errors``) as one SARIF log.

Made for code-scanning tools (GitHub code scanning among them): every result names a rule of
``tool.driver.rules`` (``ruleId`` and ``ruleIndex``), has a level mapped from the finding's severity
(high: error, medium: warning, low: note), a location relative to its source root (``uriBaseId``,
resolved by ``originalUriBaseIds``) with a region in characters (``columnKind`` unicodeCodePoints),
and a ``partialFingerprints`` entry that survives edits elsewhere in the file (it hashes the rule,
the file, the scope, the snippet and the occurrence, not the line). Rules carry their CWE as
``external/cwe/cwe-N`` tags and a ``security-severity`` score, as GitHub reads them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from codequarry.errors import UsageError
from codequarry.report.outfile import check_replaceable, replace_file
from codequarry.store import Store
from codequarry.version import __version__

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"high": "error", "medium": "warning", "low": "note"}
SECURITY_SEVERITY = {"high": "8.0", "medium": "5.5", "low": "3.0"}  # GitHub: >=7 high, >=4 medium, else low
FINGERPRINT = "codequarryFindingHash/v1"
ERROR_RULE = "codequarry-error/"


@dataclass(frozen=True)
class SarifSummary:
    path: Path
    snapshot: int
    results: int
    findings: int
    errors: int
    rules: int


def _rule(rule_id: str, title: str, severity: str, cwe: str) -> dict[str, Any]:
    tags = ["security"]
    number = re.fullmatch(r"CWE-(\d+)", cwe or "")
    if number:
        tags.append(f"external/cwe/cwe-{number.group(1)}")
    name = "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", rule_id) if w)
    text = f"{title} ({cwe})" if cwe else title
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": title},
        "fullDescription": {"text": text},
        "help": {
            "text": f"{text}. See docs/tables/security.md of codequarry for what fires and what does not.",
            "markdown": f"**{title}** ({cwe or 'no CWE'}): see `docs/tables/security.md` of codequarry.",
        },
        "defaultConfiguration": {"level": LEVELS.get(severity, "warning")},
        "properties": {
            "tags": tags,
            "precision": "medium",
            "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
            "cwe": cwe or None,
        },
    }


def _error_rule(kind: str) -> dict[str, Any]:
    return {
        "id": ERROR_RULE + kind,
        "name": "CodequarryError" + "".join(w.capitalize() for w in kind.split("_")),
        "shortDescription": {"text": f"codequarry could not analyse a file or part of it ({kind})"},
        "defaultConfiguration": {"level": "note"},
        "properties": {"tags": ["codequarry-error"], "precision": "high"},
    }


def _bases(sources: dict[str, str], repos: set[str]) -> dict[str, str]:
    """A uriBaseId per repo: %SRCROOT% when the store holds one source root, the repo's name otherwise."""
    if len(sources) <= 1 and len(repos) <= 1:
        return {repo: "%SRCROOT%" for repo in repos | set(sources)}
    return {repo: re.sub(r"[^A-Za-z0-9_.-]", "_", repo) or "repo" for repo in repos | set(sources)}


def _location(
    base: str, path: str, region: dict[str, Any] | None, scope: str | None = None
) -> dict[str, Any]:
    phys: dict[str, Any] = {"artifactLocation": {"uri": quote(path, safe="/"), "uriBaseId": base}}
    if region:
        phys["region"] = region
    loc: dict[str, Any] = {"physicalLocation": phys}
    if scope:
        loc["logicalLocations"] = [{"fullyQualifiedName": scope}]
    return loc


def _region(
    line: int | None,
    col: int | None = None,
    end_line: int | None = None,
    end_col: int | None = None,
    snippet: str | None = None,
) -> dict[str, Any] | None:
    if not line or line < 1:
        return None
    region: dict[str, Any] = {"startLine": int(line)}
    if col is not None and col >= 0:
        region["startColumn"] = int(col) + 1
    if end_line and end_line >= line:
        region["endLine"] = int(end_line)
        if end_col is not None and end_col >= 0 and "startColumn" in region:
            region["endColumn"] = max(int(end_col) + 1, region["startColumn"] if end_line == line else 1)
    if snippet:
        region["snippet"] = {"text": snippet}
    return region


def _fingerprint(seen: dict[str, int], *parts: str) -> str:
    key = "\0".join(parts)
    seen[key] = seen.get(key, 0) + 1
    return hashlib.sha256(f"{key}\0{seen[key]}".encode()).hexdigest()[:32]


def _rows(store: Store, name: str, columns: list[str]) -> list[dict[str, Any]]:
    from codequarry.query import table

    data = table(store, name)
    order = [c for c in ("repo", "path", "line", "col", "column") if c in data.column_names]
    data = data.sort_by([(c, "ascending") for c in order])
    rows: list[dict[str, Any]] = data.select([c for c in columns if c in data.column_names]).to_pylist()
    return rows


FINDING_COLUMNS = [
    "repo",
    "path",
    "rule",
    "severity",
    "cwe",
    "message",
    "scope",
    "snippet",
    "line",
    "col",
    "end_line",
    "end_col",
]
ERROR_COLUMNS = ["repo", "path", "extractor", "kind", "message", "line", "column"]


def build_sarif(store: Store, *, include_errors: bool = False) -> dict[str, Any]:
    """The SARIF log (a dict ready for json.dump) of the store's published snapshot."""
    snap = store.snapshot()
    if snap is None:
        raise UsageError(f"store '{store.path}' has no published snapshot yet: run 'quarry extract' first")
    if "security_findings" not in snap.tables:
        raise UsageError(
            "the store has no security_findings table: extract with the python.security extractors "
            "selected (e.g. 'quarry extract . --select python.security')"
        )
    findings = _rows(store, "security_findings", FINDING_COLUMNS)
    errors = _rows(store, "errors", ERROR_COLUMNS) if include_errors and "errors" in snap.tables else []
    sources = {k: str(v) for k, v in (snap.run.get("sources") or {}).items()}
    bases = _bases(sources, {r["repo"] for r in findings} | {e["repo"] for e in errors})
    rules = _rules(findings, errors)
    index = {r["id"]: i for i, r in enumerate(rules)}
    seen: dict[str, int] = {}
    results = [_finding_result(f, index, bases, seen) for f in findings]
    results += [_error_result(e, index, bases, seen) for e in errors]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "codequarry",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
        "invocations": [{"executionSuccessful": True}],
        "properties": {"snapshot": snap.id},
    }
    originals = {
        base: {"uri": Path(sources[repo]).resolve().as_uri() + "/"}
        for repo, base in bases.items()
        if repo in sources and Path(sources[repo]).is_absolute()
    }
    if originals:
        run["originalUriBaseIds"] = originals
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _rules(findings: list[dict[str, Any]], errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The built-in rule set, then the rules a plugin's rows name, then one rule per error kind."""
    from codequarry.extractors.python.security.rules import RULES

    rules = [_rule(r.id, r.title, r.severity, r.cwe) for r in RULES.values()]
    for f in findings:  # rules a plugin's rows name, unknown to the built-in rule set
        if f["rule"] not in {r["id"] for r in rules}:
            rules.append(_rule(f["rule"], f["rule"], f["severity"], f["cwe"]))
    for kind in sorted({e["kind"] for e in errors}):
        rules.append(_error_rule(kind))
    return rules


def _finding_result(
    f: dict[str, Any], index: dict[str, int], bases: dict[str, str], seen: dict[str, int]
) -> dict[str, Any]:
    """One security_findings row as a SARIF result."""
    from codequarry.extractors.python.security.rules import RULES

    snippet = " ".join((f["snippet"] or "").split())
    return {
        "ruleId": f["rule"],
        "ruleIndex": index[f["rule"]],
        "level": LEVELS.get(f["severity"], "warning"),
        "message": {"text": f["message"] or (RULES[f["rule"]].title if f["rule"] in RULES else f["rule"])},
        "locations": [
            _location(
                bases[f["repo"]],
                f["path"],
                _region(f["line"], f["col"], f["end_line"], f["end_col"], f["snippet"]),
                f["scope"],
            )
        ],
        "partialFingerprints": {
            FINGERPRINT: _fingerprint(seen, f["rule"], f["repo"], f["path"], f["scope"] or "", snippet)
        },
        "properties": {"severity": f["severity"], "cwe": f["cwe"], "repo": f["repo"]},
    }


def _error_result(
    e: dict[str, Any], index: dict[str, int], bases: dict[str, str], seen: dict[str, int]
) -> dict[str, Any]:
    """One errors row as a SARIF note (with --include-errors)."""
    return {
        "ruleId": ERROR_RULE + e["kind"],
        "ruleIndex": index[ERROR_RULE + e["kind"]],
        "level": "note",
        "message": {"text": f"{e['extractor']}: {e['message'] or e['kind']}"},
        "locations": [_location(bases[e["repo"]], e["path"], _region(e["line"]))],
        "partialFingerprints": {
            FINGERPRINT: _fingerprint(
                seen, e["kind"], e["repo"], e["path"], e["extractor"], e["message"] or ""
            )
        },
        "properties": {"repo": e["repo"], "extractor": e["extractor"]},
    }


def _is_sarif(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return bool(json.loads(fh.read())["runs"][0]["tool"]["driver"]["name"] == "codequarry")
    except (ValueError, LookupError, TypeError):
        return False


def export_sarif(store: Store, out: str | Path, *, include_errors: bool = False) -> SarifSummary:
    """Write the SARIF log of the store's snapshot to ``out`` (a file; its folder is created)."""
    path = Path(out).expanduser()
    check_replaceable(out, store.path, kind="SARIF export", example="codequarry.sarif", ours=_is_sarif)
    log = build_sarif(store, include_errors=include_errors)
    text = json.dumps(log, indent=1, ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        replace_file(path, lambda fh: fh.write(data))
    except OSError as exc:
        raise UsageError(f"cannot write SARIF to '{out}': {exc.strerror or exc}") from None
    run = log["runs"][0]
    n_errors = sum(1 for r in run["results"] if r["ruleId"].startswith(ERROR_RULE))
    return SarifSummary(
        path=path,
        snapshot=run["properties"]["snapshot"],
        results=len(run["results"]),
        findings=len(run["results"]) - n_errors,
        errors=n_errors,
        rules=len(run["tool"]["driver"]["rules"]),
    )
