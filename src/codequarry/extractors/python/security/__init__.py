"""Security-relevant facts of Python files: SQL built from strings, environment reads, findings.

``sqlstrings`` (``sql_strings``), ``envreads`` (``env_reads``) and ``findings`` (``security_findings``
and the rule catalog ``RULES``) start from the same few call sites, which :mod:`.callsites` indexes
once per file for the three of them.
"""
