"""The rule set of ``security_findings``: id, severity, CWE and title of every rule.

``docs/tables/security.md`` lists the same rules with what fires and what does not; the SARIF report
reads this catalog for its rule metadata.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """One rule of the set."""

    id: str
    severity: str  # high | medium | low (shell-true on a literal command is low)
    cwe: str
    title: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("eval-exec", "high", "CWE-95", "eval() or exec() of a non-literal"),
        Rule("shell-true", "high", "CWE-78", "subprocess call with shell=True"),
        Rule("os-command", "high", "CWE-78", "os.system / os.popen / getoutput of a non-literal command"),
        Rule("pickle-load", "medium", "CWE-502", "unpickling (pickle, marshal, dill, joblib, pandas, numpy)"),
        Rule("yaml-load", "medium", "CWE-502", "yaml.load without a safe loader"),
        Rule("tls-verify-disabled", "high", "CWE-295", "requests/httpx with verify=False"),
        Rule("weak-hash", "medium", "CWE-328", "MD5 or SHA-1 not marked usedforsecurity=False"),
        Rule(
            "insecure-random", "medium", "CWE-338", "random module used for a token, password, key, salt..."
        ),
        Rule("hardcoded-secret", "medium", "CWE-798", "string literal assigned to a secret-looking name"),
        Rule("jwt-no-verify", "high", "CWE-347", "JWT decoded without verifying its signature"),
        Rule("flask-debug", "high", "CWE-489", "Flask app run with debug=True"),
        Rule("django-debug", "medium", "CWE-489", "DEBUG = True in Django settings"),
        Rule("django-allowed-hosts", "medium", "CWE-183", "ALLOWED_HOSTS accepts any host ('*')"),
        Rule("csrf-exempt", "medium", "CWE-352", "view exempted from CSRF protection"),
        Rule("sql-interpolation", "high", "CWE-89", "SQL built from interpolated values reaches a sink"),
    )
}
