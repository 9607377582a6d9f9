"""The Ray engine on a real local Ray instance: the same rows as the local engine, bad files included."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from codequarry import extract, make_plan
from codequarry.errors import UsageError
from tests.test_incremental import dump, touch_later

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():  # type: ignore[no-untyped-def]
    import os

    from codequarry.engine.ray import _import_ray

    _import_ray(loopback=True)  # a Ray of the test's own, on loopback only
    info = ray.init(
        address="local",
        _node_ip_address="127.0.0.1",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}},
    )
    assert info.address_info["node_ip_address"] == "127.0.0.1"
    yield
    ray.shutdown()


def tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("from .a import f\n")
    for i in range(8):
        (root / "pkg" / f"m{i}.py").write_text(
            f"import os\n\ndef f{i}(x):\n    return os.path.join(x, '{i}')\n"
        )
    (root / "pkg" / "a.py").write_text("def f():\n    return 1\n")
    (root / "pkg" / "broken.py").write_text("def broken(:\n")
    (root / "pkg" / "hang.py").write_text("x = 1\n")
    (root / "pkg" / "exit.py").write_text("y = 2\n")
    (root / "pkg" / "segv.py").write_text("z = 3\n")
    return root


def test_ray_and_local_produce_the_same_rows(ray_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tree(tmp_path / "src")
    opts = {"plugins": ["tests.plugins.hostile"], "file_timeout": 2.0}
    local, remote = tmp_path / "local", tmp_path / "ray"
    extract(make_plan([src], store=local, workers=2, **opts))  # type: ignore[arg-type]
    summary = extract(make_plan([src], store=remote, workers=2, engine="ray", **opts))  # type: ignore[arg-type]
    assert summary.files_scanned == 14
    rows = dump(remote)
    assert rows == dump(local)
    kinds = {json.loads(r)["path"]: json.loads(r)["kind"] for r in rows["errors"]}
    assert kinds == {
        "pkg/broken.py": "syntax",
        "pkg/hang.py": "timeout",
        "pkg/exit.py": "crash",
        "pkg/segv.py": "crash",
    }
    # an incremental run on Ray equals one on the local engine, too
    (src / "pkg" / "m1.py").write_text("def g():\n    pass\n")
    touch_later(src / "pkg" / "m1.py")
    (src / "pkg" / "m2.py").unlink()
    extract(make_plan([src], store=local, workers=2, **opts))  # type: ignore[arg-type]
    again = extract(make_plan([src], store=remote, workers=2, engine="ray", **opts))  # type: ignore[arg-type]
    assert again.changed == 2
    assert dump(remote) == dump(local)


def test_a_worker_that_cannot_see_the_source_says_so(ray_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from codequarry.engine.ray import RayEngine, SharedFilesystemError
    from codequarry.engine.supervisor import Limits
    from codequarry.engine.worker import FileTask, WorkerConfig

    engine = RayEngine(workers=2, limits=Limits())
    task = FileTask(
        key=0,
        repo="r",
        root=str(tmp_path / "not-mounted-here"),
        path="a.py",
        size=1,
        mtime_ns=0,
        language="python",
    )
    config = WorkerConfig(extractors=(("codequarry.extractors.core", "files"),), tables_dir=str(tmp_path))
    with pytest.raises(
        SharedFilesystemError, match="cannot read source folder .*not-mounted-here.*every node sees"
    ):
        list(engine.map(config, [[task]]))


def test_missing_ray_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from codequarry.engine.ray import RayEngine

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UsageError, match=r"pip install 'codequarry\[ray\]'"):
        RayEngine(workers=1).start()
