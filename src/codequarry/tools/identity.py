"""What a task's result depends on, and the cache key made from it.

A result is reused only when nothing it depends on changed: the argv after expansion, the working
folder and the extra environment, the executable's identity (resolved path, size, mtime), the
hashes of the input files (the target file, files named in the argv, the tool's ``inputs``), the
limits, and how the output is read (protocol, schema, patterns).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

KEY_FORMAT = 1  # bump when the meaning of a cached result changes
_BLOCK = 1 << 20
_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, remembered for this process while its size and mtime stay the same."""
    st = os.stat(path)
    memo_key = (str(path), st.st_size, st.st_mtime_ns)
    hit = _memo.get(memo_key)
    if hit is not None:
        return hit
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    value = digest.hexdigest()
    _memo[memo_key] = value
    return value


def find_executable(name: str, cwd: Path, env_path: str | None = None) -> Path | None:
    """argv[0] as the OS would run it: a path (with '/') relative to cwd, else looked up on PATH.

    The path is made absolute but symlinks are kept: a venv's ``bin/python`` is a symlink to the
    base interpreter, and running the target instead would lose the venv."""
    expanded = os.path.expanduser(name)
    if "/" in expanded:
        p = Path(expanded) if os.path.isabs(expanded) else cwd / expanded
        return Path(os.path.abspath(p)) if p.is_file() and os.access(p, os.X_OK) else None
    found = shutil.which(expanded, path=env_path)
    return Path(os.path.abspath(found)) if found else None


def executable_identity(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def argv_files(argv: list[str], cwd: Path) -> list[Path]:
    """Arguments (after the executable) that name an existing file: a script, a theory, a config."""
    out = []
    base = str(cwd)
    for arg in argv[1:]:
        if not arg or arg.startswith("-") or len(arg) > 4096:
            continue
        # os.path, not a Path per argument: pathlib interns every part it parses, and 10^5 targets
        # would grow the interpreter's table of interned strings for the rest of the process
        full = os.path.join(base, os.path.expanduser(arg))  # an absolute argument stays itself
        try:
            if os.path.isfile(full):
                out.append(Path(full).resolve())
        except (OSError, ValueError):
            continue
    return out


def cache_key(parts: dict[str, Any]) -> str:
    text = json.dumps({"format": KEY_FORMAT, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
