"""A real multi-node Ray cluster on this machine, started with the ordinary ``ray start`` commands.

Used by the Ray cluster test and bench/ray_cluster.py, and handy to try ``--engine ray`` without
machines: a head node and worker nodes, each a separate ``ray start`` with its own ``--temp-dir``
and resources, all bound to the loopback interface, with a token of their own.

Two things of Ray 2.60 shape it:

- ``ray start`` turns a literal ``127.0.0.1`` (``--node-ip-address`` or ``--address``) into the
  machine's outward address. The head is therefore started with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
  (Ray's own switch for a loopback-only node: it then binds 127.0.0.1), and worker nodes join it
  through a host name that resolves to 127.0.0.1 (:func:`loopback_name`), which Ray leaves alone.
- Clusters made with ``ray start`` use token authentication: the token is made here and given to
  every node and to the driver in ``RAY_AUTH_TOKEN`` (never the shared ``~/.ray/auth_token``).

``ray stop`` stops every Ray process of the machine, whoever started it, so nodes are stopped by
pid instead: the processes whose command line names the node's temp dir, and their descendants.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

LOOPBACK = "127.0.0.1"


def loopback_name() -> str | None:
    """A host name of this machine that resolves to 127.0.0.1 and that Ray does not rewrite
    (``localhost`` it does), or None."""
    for name in (socket.gethostname(), "localhost.localdomain", "ip6-localhost"):
        with contextlib.suppress(OSError):
            if name and socket.gethostbyname(name) == LOOPBACK:
                return name
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    name: str
    temp_dir: Path
    head: bool


@dataclass
class LocalCluster:
    """Nodes started with ``ray start``; use as a context manager (every node is stopped on exit)."""

    root: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    nodes: dict[str, Node] = field(default_factory=dict)
    object_store_mb: int = 256  # per node (shared memory); results are small metadata, parts go to disk

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def env(self, driver: bool = True) -> dict[str, str]:
        """The environment of a node, or of a driver (which joins at 127.0.0.1, so it says the cluster
        is loopback-only): the cluster's token, and nothing of another cluster."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env["RAY_AUTH_MODE"] = "token"
        env["RAY_AUTH_TOKEN"] = self.token
        if driver:
            env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        return env

    def _start(self, node: Node, args: list[str], extra_env: dict[str, str]) -> None:
        node.temp_dir.mkdir(parents=True, exist_ok=True)
        self.nodes[node.name] = node
        cmd = ["ray", "start", *args, f"--temp-dir={node.temp_dir}", "--disable-usage-stats"]
        proc = subprocess.run(
            cmd, env={**self.env(driver=False), **extra_env}, capture_output=True, text=True, timeout=180
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def start_head(self, cpus: int = 1, resources: str = '{"head": 1}') -> None:
        self._start(
            Node("head", self.root / "head", True),
            [
                "--head",
                f"--node-ip-address={LOOPBACK}",
                f"--port={self.port}",
                f"--num-cpus={cpus}",
                f"--resources={resources}",
                "--include-dashboard=false",
                f"--object-store-memory={self.object_store_mb << 20}",
            ],
            {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
        )

    def add_node(self, name: str, cpus: int = 1, resources: str | None = None) -> None:
        host = loopback_name()
        if host is None:
            raise RuntimeError(
                "no host name of this machine resolves to 127.0.0.1 (needed to join a loopback-only Ray head)"
            )
        args = [
            f"--address={host}:{self.port}",
            f"--num-cpus={cpus}",
            f"--object-store-memory={self.object_store_mb << 20}",
        ]
        if resources:
            args.append(f"--resources={resources}")
        self._start(Node(name, self.root / name, False), args, {})

    def wait_for(self, nodes: int, timeout: float = 120.0) -> None:
        """Until the cluster lists ``nodes`` live nodes (asked through ``ray status``)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            out = subprocess.run(
                ["ray", "status", f"--address={self.address}"],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            active = out.stdout.partition("Active:")[2].partition("Pending:")[0]
            if active.count(" node_") >= nodes:
                return
            time.sleep(1.0)
        raise RuntimeError(f"the cluster did not list {nodes} nodes within {timeout:g} s")

    def processes(self, name: str) -> list[psutil.Process]:
        """The node's processes: those whose command line names its temp dir, and their descendants."""
        marker = str(self.nodes[name].temp_dir)
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(marker in part for part in p.info["cmdline"] or []):
                    found[p.pid] = p
                    for child in p.children(recursive=True):
                        found[child.pid] = child
        return list(found.values())

    def kill_node(self, name: str) -> int:
        """SIGKILL every process of one node (a machine lost); returns how many there were."""
        procs = self.processes(name)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)
        return len(procs)

    def stop(self) -> list[int]:
        """Kill every node, workers first; returns the pids still alive (should be none)."""
        for name in sorted(self.nodes, key=lambda n: self.nodes[n].head):
            self.kill_node(name)
        return [p.pid for name in self.nodes for p in self.processes(name)]

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
