"""Exact, always, on real histories: replay a git history (and the standard libraries of several Python
versions) as a user works, and compare every table of the store with a fresh extract after each step.

    python bench/history.py netbox [--commits 30] [--select python --subtree netbox/circuits ...]
    python bench/history.py stdlib [--versions 3.11,3.12,3.13]

A working tree is checked out at the first commit (written file by file, as ``git checkout`` does:
only the paths whose blob differs are written, removed paths are deleted), ``quarry extract`` runs
as a subprocess (the default selection, or ``--select``/``--skip``), then the script steps through the
history: single commits (few files), jumps over many commits (a branch switch), a jump back (a revert),
a rename of the tree's folder, a selection change and back, ``quarry repos remove`` and a run after it,
and ``quarry watch`` (a subprocess) applying further checkouts live: the files are written as an
editor saves them, and the step waits until the watch log says it applied them and has gone quiet.

After every step every table of the store is compared with a fresh ``quarry extract`` of the same tree
and selection into a new store, under the repo name the store knows the tree by; the comparison is
the one the state-machine test uses (tests/storedump.py: every non-empty table, rows as sorted JSON,
every column: a fresh extract's rows carry no run id or time). Prints JSON: the steps, the tables
compared, and the mismatches (table, counts and samples of the rows only in the store and only in the
fresh extract). Exits 1 when any step mismatched.

The replay is a library too (:class:`Replay`, :class:`GitHistory`, :func:`folder_files`): the slow
test tests/test_incremental_history.py drives it over a short history.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.storedump import dump  # noqa: E402  (the comparer of the state-machine test)

NETBOX_GIT = Path("/work/.mirror/netbox-community+netbox/repo")
#: a tree: relative path -> bytes
Files = dict[str, bytes]


# ---- sources of trees ----------------------------------------------------------------------------------


class GitHistory:
    """The trees of a (bare) git repository's commits, blobs read through one ``git cat-file --batch``;
    blobs absent from the object store (large files left out of a partial clone) are left out."""

    def __init__(self, git_dir: Path, under: Iterable[str] = ()) -> None:
        self.git_dir = git_dir
        self.under = tuple(u.rstrip("/") + "/" for u in under)
        self._blobs: dict[str, bytes | None] = {}
        self._cat = subprocess.Popen(
            ["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args], check=True, capture_output=True, text=True
        ).stdout

    def commits(self, branch: str, since: str, paths: Iterable[str] = ()) -> list[str]:
        """The first-parent commits of ``branch`` since the date ``since`` (oldest first) that touch
        ``paths``."""
        out = self.git("rev-list", "--first-parent", "--reverse", f"--since={since}", branch, "--", *paths)
        return out.split()

    def blob(self, sha: str) -> bytes | None:
        if sha not in self._blobs:
            assert self._cat.stdin is not None and self._cat.stdout is not None
            self._cat.stdin.write(sha.encode() + b"\n")
            self._cat.stdin.flush()
            header = self._cat.stdout.readline().split()
            if len(header) < 3 or header[1] != b"blob":
                self._blobs[sha] = None
            else:
                data = self._cat.stdout.read(int(header[2]))
                self._cat.stdout.read(1)
                self._blobs[sha] = data
        return self._blobs[sha]

    def tree(self, commit: str) -> Files:
        out = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", "ls-tree", "-r", "-z", commit],
            check=True,
            capture_output=True,
        ).stdout
        files: Files = {}
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, path = entry.split(b"\t", 1)
            mode, kind, sha = meta.split()
            name = path.decode("utf-8", "surrogateescape")
            if kind != b"blob" or mode not in (b"100644", b"100755"):
                continue  # symlinks and submodules: not files a checkout writes as such
            if self.under and not name.startswith(self.under):
                continue
            data = self.blob(sha.decode())
            if data is not None:
                files[name] = data
        return files

    def close(self) -> None:
        if self._cat.stdin is not None:
            self._cat.stdin.close()
        self._cat.wait()


SKIP_DIRS = {"site-packages", "__pycache__", "lib-dynload"}


def folder_files(root: Path, keep: Callable[[str], bool] = lambda _rel: True) -> Files:
    """A folder's regular files (an installed standard library: site-packages, caches and the build's
    config folder left out)."""
    files: Files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("config-3"))
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_file() and not path.is_symlink() and keep(rel):
                files[rel] = path.read_bytes()
    return files


def pyenv_stdlib(version: str) -> Path | None:
    """The standard library of pyenv's newest ``version`` (e.g. ``3.12``), if installed."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(
        root.glob(f"{version}.*"), key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()]
    )
    for base in reversed(found):
        lib = base / "lib" / f"python{version}"
        if (lib / "os.py").is_file():
            return lib
    return None


# ---- the replay ----------------------------------------------------------------------------------------


def quarry(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``quarry ARGS`` in a child process (the code of this checkout: bench/ sits beside src/)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-m", "codequarry", *args], env=env, capture_output=True, text=True, timeout=3600
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"quarry {' '.join(args)} exited {proc.returncode}: {proc.stderr[-3000:]}")
    return proc


def write_tree(tree: Path, old: Files, new: Files, touch: Callable[[Path], None] | None = None) -> int:
    """Make ``tree`` hold ``new`` where it held ``old``: as a checkout does, only changed paths are
    written (a whole new file each) and removed ones deleted, with folders left empty removed. Returns
    the number of paths changed."""
    changed = 0
    for rel in sorted(set(old) - set(new)):
        path = tree / rel
        path.unlink()
        changed += 1
        parent = path.parent
        while parent != tree and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    for rel, data in sorted(new.items()):
        if old.get(rel) == data:
            continue
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if touch is not None:
            touch(path)
        changed += 1
    return changed


def diff_dumps(
    left: dict[str, list[str]], right: dict[str, list[str]], samples: int = 3
) -> list[dict[str, Any]]:
    """Per table whose rows differ: the counts and a few samples of rows only in ``left``/``right``."""
    out = []
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name, []), right.get(name, [])
        if a == b:
            continue
        sa, sb = set(a), set(b)
        only_l = sorted(sa - sb)
        only_r = sorted(sb - sa)
        out.append(
            {
                "table": name,
                "rows_left": len(a),
                "rows_right": len(b),
                "only_left": len(only_l),
                "only_right": len(only_r),
                "only_left_samples": only_l[:samples],
                "only_right_samples": only_r[:samples],
            }
        )
    return out


class Replay:
    """A working tree under ``base``, its store, the selection of the next run, and the record of the
    steps replayed and compared."""

    def __init__(self, base: Path, selection: Iterable[str] = (), name: str = "tree") -> None:
        self.base = base
        self.tree = base / name
        self.tree.mkdir(parents=True)
        self.store = base / "store"
        self.selection = list(selection)
        self.files: Files = {}
        self.steps: list[dict[str, Any]] = []
        self.tables: set[str] = set()
        self.counter = 0
        self.watch_proc: subprocess.Popen[bytes] | None = None
        self.watch_log = base / "watch.log"
        self.name = name  # the repo the store knows the tree by (a rename of its folder keeps it)
        #: a second repo in the same store (another checkout of the same history: reuse copies rows
        #: between the two), extracted by runs of its own
        self.fork: Path | None = None
        self.fork_files: Files = {}

    # -- user actions

    def checkout(self, files: Files) -> int:
        changed = write_tree(self.tree, self.files, files)
        self.files = dict(files)
        return changed

    def extract(self) -> None:
        quarry("extract", str(self.tree), "--store", str(self.store), "-q", "-w", "2", *self.selection)

    def rename_tree(self) -> None:
        self.counter += 1
        target = self.tree.with_name(f"{self.tree.name.split('~')[0]}~{self.counter}")
        self.tree.rename(target)
        self.tree = target

    def checkout_fork(self, files: Files) -> int:
        """Check ``files`` out in the second repo's tree and extract it alone into the store."""
        if self.fork is None:
            self.fork = self.base / "fork"
            self.fork.mkdir()
        changed = write_tree(self.fork, self.fork_files, files)
        self.fork_files = dict(files)
        quarry("extract", str(self.fork), "--store", str(self.store), "-q", "-w", "2", *self.selection)
        return changed

    def remove_repo(self) -> None:
        quarry("repos", "remove", self.name, "--store", str(self.store))
        self.name = self.tree.name  # forgotten: the next run names the tree after its folder

    # -- quarry watch

    def watch_start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        self.watch_log.write_text("")
        log = open(self.watch_log, "ab")  # noqa: SIM115  (the child's stdout for its whole life)
        args = ["watch", str(self.tree), "--store", str(self.store), "-w", "1", *self.selection]
        self.watch_proc = subprocess.Popen(
            [sys.executable, "-m", "codequarry", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self._wait_log(lambda text: " watching " in text, "watch did not start")
        time.sleep(0.5)  # inotify registrations

    def _wait_log(self, ready: Callable[[str], bool], why: str, timeout: float = 900) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.watch_log.read_text(errors="replace")
            if ready(text):
                return text
            assert self.watch_proc is not None
            if self.watch_proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{why}: {text[-3000:]}")
            time.sleep(0.1)

    def watch_apply(self, files: Files, quiet: float = 3.0) -> list[str]:
        """Write ``files`` into the watched tree, wait until the watch log has said ``applied`` (or
        ``not applied``) and the watch has then been idle for ``quiet`` seconds: no new log line and
        no CPU time spent (a batch of a thousand files runs for a while before it logs); the log
        lines of the step."""
        import psutil

        start = len(self.watch_log.read_text(errors="replace").splitlines())
        changed = self.checkout(files)
        if not changed:
            return []
        self._wait_log(
            lambda text: any(" applied " in x for x in text.splitlines()[start:]), "watch applied nothing"
        )
        assert self.watch_proc is not None
        proc = psutil.Process(self.watch_proc.pid)

        def busy() -> tuple[int, float]:
            t = proc.cpu_times()
            return self.watch_log.stat().st_size, round(
                t.user + t.system + t.children_user + t.children_system, 1
            )

        last = busy()
        while True:
            time.sleep(quiet)
            now = busy()
            if now[0] == last[0] and now[1] - last[1] < 0.1 * quiet:
                break
            last = now
        return self.watch_log.read_text(errors="replace").splitlines()[start:]

    def watch_stop(self) -> None:
        assert self.watch_proc is not None
        self.watch_proc.send_signal(signal.SIGTERM)
        self.watch_proc.wait(timeout=300)
        self.watch_proc = None

    # -- judging

    def fresh(self, main: bool = True) -> dict[str, list[str]]:
        """A fresh extract of the trees the store holds (``main``: the tree's too) into a new store,
        each under the repo name the store knows it by."""
        self.counter += 1
        work = self.base / f"fresh{self.counter}"
        store = work / "store"
        opts = ["--store", str(store), "-q", "-w", "2", "--no-fast-path", *self.selection]
        if self.fork is None:
            quarry("extract", str(self.tree), "--repo", self.name, *opts)
        else:  # two sources: each a copy in a folder of its repo's name
            sources = [self.fork] + ([self.tree] if main else [])
            copies = [work / (self.name if src == self.tree else src.name) for src in sources]
            for src, copy in zip(sources, copies, strict=True):
                shutil.copytree(src, copy)
            quarry("extract", *map(str, copies), *opts)
        out = dump(store)
        shutil.rmtree(work)
        return out

    def judge(self, action: str, **info: Any) -> dict[str, Any]:
        """Compare the store with a fresh extract; record the step."""
        t = time.perf_counter()
        mine = dump(self.store)
        if info.pop("removed", False):
            theirs = self.fresh(main=False) if self.fork is not None else {}
        else:
            theirs = self.fresh()
        self.tables |= set(mine) | set(theirs)
        step = {
            "step": len(self.steps) + 1,
            "action": action,
            **info,
            "selection": " ".join(self.selection) or "default",
            "files": len(self.files),
            "tables": len(set(mine) | set(theirs)),
            "rows": sum(len(v) for v in mine.values()),
            "mismatches": diff_dumps(mine, theirs),
            "judge_s": round(time.perf_counter() - t, 1),
        }
        self.steps.append(step)
        print(
            f"step {step['step']}: {action} {info} -> {len(step['mismatches'])} mismatching table(s)",
            file=sys.stderr,
            flush=True,
        )
        return step

    def summary(self) -> dict[str, Any]:
        bad = [s for s in self.steps if s["mismatches"]]
        return {
            "steps": len(self.steps),
            "tables_compared": sorted(self.tables),
            "steps_with_mismatches": len(bad),
            "mismatches": [
                {"step": s["step"], "action": s["action"], "mismatches": s["mismatches"]} for s in bad
            ],
            "log": [{k: v for k, v in s.items() if k != "mismatches"} for s in self.steps],
        }


def play(
    replay: Replay,
    versions: list[tuple[str, Files]],
    plan: list[tuple[str, int]],
    watch: list[int] | None = None,
    alternate: list[str] | None = None,
) -> None:
    """Replay ``plan`` over ``versions`` (label, files): ``("checkout", i)`` checks version ``i`` out
    and extracts; ``("rename", 0)`` renames the tree's folder and extracts; ``("select", 0)`` runs with
    the ``alternate`` selection, ``("select", 1)`` back with the replay's own; ``("remove", 0)`` runs
    ``quarry repos remove`` (judged against a store of the other repo's rows alone) and extracts
    again; ``("fork", i)`` checks version ``i`` out in a second tree extracted into the same store as
    a repo of its own (a fork: reuse copies rows between the two); ``("watch", 0)``
    starts `quarry watch`, checks out each version of ``watch`` live, and stops it."""
    own = list(replay.selection)
    at = None
    for action, i in plan:
        if action == "checkout":
            changed = replay.checkout(versions[i][1])
            replay.extract()
            replay.judge("checkout", to=versions[i][0], from_=at, changed=changed)
            at = versions[i][0]
        elif action == "rename":
            replay.rename_tree()
            replay.extract()
            replay.judge("rename", to=replay.tree.name)
        elif action == "select":
            replay.selection = list(alternate or []) if i == 0 else own
            replay.extract()
            if replay.fork is not None:  # the fork too: a store's repos are judged under one selection
                replay.checkout_fork(replay.fork_files)
            replay.judge("select", selection_now=" ".join(replay.selection))
        elif action == "remove":
            repo = replay.name
            replay.remove_repo()
            replay.judge("repos remove", repo=repo, removed=True)
            replay.extract()
            replay.judge("extract after remove")
        elif action == "fork":
            changed = replay.checkout_fork(versions[i][1])
            replay.judge("fork", to=versions[i][0], changed=changed)
        elif action == "watch":
            replay.watch_start()
            try:
                for j in watch or []:
                    lines = replay.watch_apply(versions[j][1])
                    applied = [x.split(" ", 1)[1] for x in lines if "applied" in x]
                    replay.judge("watch", to=versions[j][0], from_=at, log=applied)
                    at = versions[j][0]
            finally:
                replay.watch_stop()


# ---- the two corpora -----------------------------------------------------------------------------------

#: netbox: the feature branch of 4.3 in early 2025 (new models, views, urls, filtersets, tests, and
#: merges of the release branch into it): the first-parent history of the release merge's second parent
NETBOX_BRANCH = "v4.3.0^2"
NETBOX_SINCE = "2025-01-01"


def netbox_versions(git_dir: Path, commits: int, under: list[str]) -> list[tuple[str, Files]]:
    hist = GitHistory(git_dir, under)
    try:
        chosen = hist.commits(NETBOX_BRANCH, NETBOX_SINCE, paths=under or ["netbox"])[:commits]
        return [(c[:10], hist.tree(c)) for c in chosen]
    finally:
        hist.close()


def default_plan(n: int) -> tuple[list[tuple[str, int]], list[int]]:
    """Single steps over the first half, a branch switch to the end, a revert to the middle, the
    other actions between, and the watch stepping over the second half."""
    half = n // 2
    plan = [("checkout", 0), ("fork", 0)] + [("checkout", i) for i in range(1, half)]
    plan += [("checkout", n - 1), ("fork", n - 1), ("checkout", half - 1), ("rename", 0), ("select", 0)]
    plan += [("checkout", half), ("select", 1), ("remove", 0), ("checkout", half + 1)]
    watch = list(range(half + 2, n)) + [half]  # single steps, then a revert of many
    return plan, watch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", choices=["netbox", "stdlib"])
    ap.add_argument("--git-dir", default=str(NETBOX_GIT))
    ap.add_argument("--commits", type=int, default=24)
    ap.add_argument("--under", action="append", default=[], help="only this folder of the repository")
    ap.add_argument("--versions", default="3.11,3.12,3.13")
    ap.add_argument("--select", action="append", default=[])
    ap.add_argument("--skip", action="append", default=[])
    ap.add_argument("--no-watch", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    selection = [x for s in args.select for x in ("--select", s)] + [
        x for s in args.skip for x in ("--skip", s)
    ]
    alternate = ["--skip", "python.web"] if not selection else []
    t0 = time.perf_counter()
    if args.corpus == "netbox":
        versions = netbox_versions(Path(args.git_dir), args.commits, args.under)
        plan, watch = default_plan(len(versions))
    else:
        versions = []
        under = tuple(args.under)
        for v in args.versions.split(","):
            lib = pyenv_stdlib(v)
            if lib is None:
                print(f"no Python {v} under pyenv: left out", file=sys.stderr)
                continue
            files = folder_files(lib, lambda rel: not under or rel.startswith(under))
            versions.append((v, files))
        n = len(versions)
        plan = [("checkout", 0), ("fork", n - 1)] + [("checkout", i) for i in range(1, n)]
        plan += [("checkout", 0), ("fork", 0), ("rename", 0)]
        plan += [("select", 0), ("checkout", n - 1), ("select", 1), ("remove", 0)]
        watch = [0, n - 1]
    with tempfile.TemporaryDirectory(prefix="quarry-history-") as tmp:
        replay = Replay(Path(tmp), selection)
        if not args.no_watch:
            plan.append(("watch", 0))
        play(replay, versions, plan, watch, alternate)
        out = {
            "corpus": args.corpus,
            "versions": [v for v, _ in versions],
            "command": " ".join(sys.argv),
            "selection": " ".join(selection) or "default",
            "seconds": round(time.perf_counter() - t0),
            "load_average": round(os.getloadavg()[0], 1),
            **replay.summary(),
        }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 1 if out["steps_with_mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
