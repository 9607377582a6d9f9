"""The scanner: what a source lists, what it prunes, where symlinks may lead, module names."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from codequarry.errors import UsageError
from codequarry.scan import language_of, language_of_shebang, module_names, resolve_sources, scan


def write(root: Path, rel: str, text: str = "x = 1\n") -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def listed(root: Path, **kw: object) -> set[str]:
    manifest = scan(resolve_sources([root]), **kw)  # type: ignore[arg-type]
    return {f.path for f in manifest.files}


def test_walk_prunes_vcs_caches_node_modules_and_venvs(tmp_path: Path) -> None:
    for rel in [
        "a.py",
        "pkg/b.py",
        ".git/config",
        ".hg/x",
        ".svn/y",
        "pkg/__pycache__/b.cpython-311.pyc",
        "node_modules/m/index.js",
        "env/pyvenv.cfg",
        "env/lib/site.py",
        "deep/venv2/pyvenv.cfg",
        "deep/venv2/x.py",
        "deep/keep.py",
    ]:
        write(tmp_path, rel)
    assert listed(tmp_path) == {"a.py", "pkg/b.py", "deep/keep.py"}


def test_user_excludes_match_paths_names_and_folders(tmp_path: Path) -> None:
    for rel in ["a.py", "tests/test_a.py", "docs/conf.py", "src/m.pyi", "src/m.py"]:
        write(tmp_path, rel)
    assert listed(tmp_path, exclude=["tests", "*.pyi", "docs/*"]) == {"a.py", "src/m.py"}


def test_store_folder_is_never_scanned(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    write(tmp_path, "out/store/tables/x.py")
    assert listed(tmp_path, never=[tmp_path / "out" / "store"]) == {"a.py"}


def test_symlinks_stay_inside_the_root_and_loops_end(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    write(outside, "secret.py")
    write(root, "pkg/real.py")
    os.symlink(outside / "secret.py", root / "leak.py")
    os.symlink(outside, root / "leakdir")
    os.symlink(root / "pkg" / "real.py", root / "alias.py")
    os.symlink(root, root / "pkg" / "loop")  # a loop back to the root
    os.symlink(root / "missing.py", root / "broken.py")
    manifest = scan(resolve_sources([root]))
    paths = {f.path for f in manifest.files}
    assert paths == {"pkg/real.py", "alias.py"}
    reasons = {(p, r) for _, p, r in manifest.skipped}
    assert ("leak.py", "symlink_outside_root") in reasons
    assert ("leakdir", "symlink_outside_root") in reasons


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), *args],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )


def test_git_work_tree_is_listed_as_git_sees_it(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path, ".gitignore", "build/\n*.log\n")
    write(tmp_path, "tracked.py")
    write(tmp_path, "build/gen.py")
    write(tmp_path, "debug.log")
    git(tmp_path, "add", "tracked.py", ".gitignore")
    git(tmp_path, "commit", "-qm", "init")
    write(tmp_path, "untracked.py")
    write(tmp_path, "node_modules/x.js")  # not ignored by git, still pruned
    manifest = scan(resolve_sources([tmp_path]))
    assert manifest.listing[tmp_path.name] == "git"
    assert {f.path for f in manifest.files} == {".gitignore", "tracked.py", "untracked.py"}


def test_folder_ignored_by_the_enclosing_repo_is_walked(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path, ".gitignore", "versions/\n")
    write(tmp_path, "versions/lib/os.py")
    write(tmp_path, "versions/lib/json/__init__.py")
    manifest = scan(resolve_sources([tmp_path / "versions" / "lib"]))
    assert manifest.listing["lib"] == "walk"
    assert {f.path for f in manifest.files} == {"os.py", "json/__init__.py"}


def test_git_listing_skips_tracked_files_deleted_from_the_work_tree(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path, "a.py")
    write(tmp_path, "b.py")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    (tmp_path / "b.py").unlink()
    assert listed(tmp_path) == {"a.py"}


def test_several_sources_get_distinct_repo_names(tmp_path: Path) -> None:
    write(tmp_path, "one/app/x.py")
    write(tmp_path, "two/app/y.py")
    roots = resolve_sources([tmp_path / "one" / "app", tmp_path / "two" / "app"])
    assert [r.repo for r in roots] == ["app", "app-2"]
    manifest = scan(roots)
    assert {(f.repo, f.path) for f in manifest.files} == {("app", "x.py"), ("app-2", "y.py")}


def test_single_file_source_and_missing_source(tmp_path: Path) -> None:
    f = write(tmp_path, "solo.py")
    write(tmp_path, "other.py")
    roots = resolve_sources([f])
    assert {x.path for x in scan(roots).files} == {"solo.py"}
    with pytest.raises(UsageError, match="does not exist"):
        resolve_sources([tmp_path / "nope"])


@pytest.mark.parametrize(
    ("head", "lang"),
    [
        (b"#!/usr/bin/env python3\n", "python"),
        (b"#!/usr/bin/python3.11 -u\n", "python"),
        (b"#!/bin/bash\n", "shell"),
        (b"#!/usr/bin/env -S node --x\n", "javascript"),
        (b"print(1)\n", None),
    ],
)
def test_shebang_languages(head: bytes, lang: str | None) -> None:
    assert language_of_shebang(head) == lang


def test_extension_languages() -> None:
    assert language_of("a.py") == "python"
    assert language_of("A.PY") == "python"
    assert language_of("x.pyi") == "python"
    assert language_of("Dockerfile") == "dockerfile"
    assert language_of("README") is None


def test_module_names_follow_package_chains_and_src_layouts(tmp_path: Path) -> None:
    for rel in [
        "src/acme/__init__.py",
        "src/acme/core/__init__.py",
        "src/acme/core/models.py",
        "setup.py",
        "tests/test_models.py",
        "scripts/tool.py",
        "acme2/__init__.py",
        "acme2/sub/mod.py",
        "acme2/sub/deeper/leaf.py",
        "acme2/my-data/x.py",
        "acme2/sub/inner/__init__.py",
        "acme2/sub/inner/m.py",
        "bad-name/x.py",
        "bad-name/y/__init__.py",
        "bad-name/y/z/w.py",
        "bad-pkg/__init__.py",
        "bad-pkg/top.py",
        "bad-pkg/sub/__init__.py",
        "bad-pkg/sub/m.py",
        "acme2/demo/pyproject.toml",
        "acme2/demo/demo_app/__init__.py",
        "acme2/demo/demo_app/views.py",
        "acme2/demo/run.py",
    ]:
        write(tmp_path, rel)
    names = module_names(scan(resolve_sources([tmp_path])).files)
    repo = tmp_path.name
    assert names[(repo, "src/acme/core/models.py")] == ("acme.core.models", False)
    assert names[(repo, "src/acme/core/__init__.py")] == ("acme.core", True)
    assert names[(repo, "setup.py")] == ("setup", False)
    assert names[(repo, "tests/test_models.py")] == ("test_models", False)
    # a folder without __init__.py inside a package is a namespace portion of it (PEP 420): Python
    # imports acme2/sub/mod.py as acme2.sub.mod; one outside any package stays top-level
    assert names[(repo, "acme2/sub/mod.py")] == ("acme2.sub.mod", False)
    assert names[(repo, "acme2/sub/deeper/leaf.py")] == ("acme2.sub.deeper.leaf", False)
    assert names[(repo, "acme2/sub/inner/m.py")] == ("acme2.sub.inner.m", False)
    assert names[(repo, "acme2/sub/inner/__init__.py")] == ("acme2.sub.inner", True)
    assert names[(repo, "acme2/my-data/x.py")] == ("x", False)  # no import goes through my-data
    # a project of its own inside a package (its pyproject.toml): installed apart, named from inside
    assert names[(repo, "acme2/demo/demo_app/views.py")] == ("demo_app.views", False)
    assert names[(repo, "acme2/demo/run.py")] == ("run", False)
    assert names[(repo, "bad-name/x.py")] == ("x", False)
    assert names[(repo, "bad-name/y/z/w.py")] == ("y.z.w", False)
    # a package no import can spell (bad-pkg) is where the chain starts: its code runs from inside it
    assert names[(repo, "bad-pkg/sub/m.py")] == ("sub.m", False)
    assert names[(repo, "bad-pkg/top.py")] == ("top", False)
    assert names[(repo, "bad-pkg/__init__.py")] == (None, True)


def test_a_root_package_named_no_import_can_spell_names_its_modules_from_inside(tmp_path: Path) -> None:
    write(tmp_path, "my-app/__init__.py")
    write(tmp_path, "my-app/views.py")
    write(tmp_path, "my-app/api/__init__.py")
    write(tmp_path, "my-app/api/routes.py")
    names = module_names(scan(resolve_sources([tmp_path / "my-app"])).files)
    assert names[("my-app", "views.py")] == ("views", False)
    assert names[("my-app", "api/routes.py")] == ("api.routes", False)


def test_root_that_is_itself_a_package_takes_its_name_from_above(tmp_path: Path) -> None:
    write(tmp_path, "outer/__init__.py")
    write(tmp_path, "outer/inner/__init__.py")
    write(tmp_path, "outer/inner/mod.py")
    names = module_names(scan(resolve_sources([tmp_path / "outer" / "inner"])).files)
    assert names[("inner", "mod.py")] == ("outer.inner.mod", False)
    assert names[("inner", "__init__.py")] == ("outer.inner", True)


def test_the_walk_resolves_only_symlinked_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder that is no symlink has its parent's real path and its name: the walk calls
    ``realpath`` once for the root and once per symlinked folder, not once per folder (one lstat per
    component of a deep path each), and lists the same files."""
    import codequarry.scan as scan_module

    root = tmp_path / "root"
    for i in range(6):
        write(root, f"a{i}/b/c/d/m{i}.py")
    os.symlink(root / "a0" / "b", root / "link")  # inside the root: its folder is listed once
    unpatched = scan(resolve_sources([root]))
    calls: list[str] = []
    real = os.path.realpath

    def counting(path: str, *args: object, **kw: object) -> str:
        calls.append(path)
        return real(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(scan_module.os.path, "realpath", counting)
    manifest = scan(resolve_sources([root]))
    assert manifest.files == unpatched.files and manifest.skipped == unpatched.skipped
    assert len(manifest.files) == 6 and len(manifest.skipped) == 1  # a0/b and link: one folder
    walked = [c for c in calls if str(c).startswith(str(root))]
    # the source and the root, the link and its duplicate check (not one per folder: 28)
    assert len(walked) <= 6, walked
