"""The app as compose runs it, started by `scripts/local_cluster.py` on loopback, for the
scale-out test and `benchmarks.cluster`: its replicas' addresses and a graceful stop."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from indexer.settings import PROJECT_ROOT


@dataclass
class Replica:
    index: int
    pid: int
    web: str
    api: str
    log: Path

    @property
    def webhook(self) -> str:
        return self.web + "/telegram/webhook"


class Cluster:
    def __init__(self, process: subprocess.Popen[str], replicas: list[Replica]) -> None:
        self.process = process
        self.replicas = replicas

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def _free_base_port(replicas: int) -> int:
    """A port p with p, p + 2, ... free (replica i listens 2 (i - 1) ports up)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base > 60000:
            continue
        try:
            for step in range(1, replicas):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", base + 2 * step))
        except OSError:
            continue
        return base
    raise AssertionError("no free ports")


def _spawn(command: list[str], errors: Path) -> subprocess.Popen[str]:
    with errors.open("w") as stream:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stream, text=True
        )


async def start_cluster(
    state: Path,
    settings: dict[str, str],
    database_url: str,
    redis_url: str,
    *,
    replicas: int = 2,
    startup_seconds: float = 240.0,
) -> Cluster:
    """`scripts/local_cluster.py` with `replicas` of the app on free loopback ports and
    `settings` for every process; returns once every replica is ready. Its stderr goes
    to `cluster.stderr` beside `state`."""
    web_port, api_port = _free_base_port(replicas), _free_base_port(replicas)
    command = [
        sys.executable,
        str(PROJECT_ROOT / "scripts" / "local_cluster.py"),
        f"--replicas={replicas}",
        f"--state={state}",
        "--no-env-file",
        f"--database-url={database_url}",
        f"--redis-url={redis_url}",
        f"--web-port={web_port}",
        f"--api-port={api_port}",
        "--wait-ready",
        f"--timeout={startup_seconds}",
    ]
    command += [f"--set={name}={value}" for name, value in settings.items()]
    process = _spawn(command, state.parent / "cluster.stderr")
    assert process.stdout is not None
    # In a thread: the fake Bot API the replicas call at start runs on this loop.
    line = await asyncio.to_thread(process.stdout.readline)
    if not line:
        process.wait(timeout=30)
        raise AssertionError(
            "the cluster did not start:\n" + (state.parent / "cluster.stderr").read_text()
        )
    started = json.loads(line)
    replicas = [
        Replica(r["index"], r["pid"], r["web"], r["api"], Path(r["log"]))
        for r in started["replicas"]
    ]
    return Cluster(process, replicas)
