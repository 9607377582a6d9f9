"""Security-relevant facts of Python files: SQL built from strings, environment reads, findings.

``sqlstrings`` (``sql_strings``), ``envreads`` (``env_reads``) and ``findings`` (``security_findings``)
start from the same few call sites, which :mod:`.callsites` indexes once per file for the three of
them. The findings' rule set is :mod:`.rules`; the assignment rules are :mod:`.assigned`, and the
secret-looking heuristics they use :mod:`.secrets`.
"""
