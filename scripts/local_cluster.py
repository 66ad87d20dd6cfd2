"""Start what compose.yaml would start, as plain processes on loopback, against the local
PostgreSQL and Redis: `scripts/run-local-cluster` (or `python scripts/local_cluster.py`).

What it cannot start without is said before anything starts: a bot token (BOT_TOKEN, and
WEBHOOK_URL for more than one replica, from --set or the env file) and the database, which
the `migrate` step changes, so it is never chosen for you: --database-url (or --set
DATABASE_URL=...) names it.

compose.yaml is the single source of truth: the one-shot services the app depends on
(`condition: service_completed_successfully`: migrate, index) run first, in dependency
order, to completion, each with its compose command and environment; then N replicas of
the app service's command start, each on its own ports. The translation from compose to
this machine:

- `python` in a command is this interpreter; the working folder is the repository (the
  image's /app);
- the environment, lowest first: the basics of this shell (PATH, HOME, locale; nothing of
  the app's), what the image sets (HF_HUB_OFFLINE...), --env-file (default `.env` when
  there is one; like compose's env_file), the service's `environment` (translated, see
  below), this machine's addresses (DATABASE_URL, REDIS_URL, WEB_/API_HOST and _PORT),
  and last --set NAME=VALUE;
- services with an image of their own (postgres, redis) are not started: the local
  servers stand in for them. Their compose host names in values become 127.0.0.1, and
  DATABASE_URL/REDIS_URL become --database-url/--redis-url;
- PSEUDONYM_KEY, when neither --env-file nor --set gives one, is made once and kept in
  `<state>/pseudonym.key` (compose takes it from .env);
- a named volume is a folder `<state>/<volume>`, shared by every process as the volume is
  by every container; a volume mounted over a folder the image has (knowledge/) is seeded
  from the repository on first use, as Docker seeds an empty named volume. Container paths
  in values (/app/var/index) become the matching local folder;
- replica i (1, 2, ...) listens on 127.0.0.1, WEB_PORT = --web-port + (i - 1) * step and
  API_PORT = --api-port + (i - 1) * step (--port-step, default 2: replica 1 on 18081/18080,
  replica 2 on 18083/18082; a step of 1 would put replica 2's API on replica 1's web
  port), and writes its output to `<state>/app-<i>.log`.

When every replica answers GET /healthz (or /readyz with --wait-ready) with 200, one JSON
line goes to stdout:

    {"replicas": [{"index": 1, "pid": ..., "web": "http://127.0.0.1:18081",
                   "api": "http://127.0.0.1:18080", "log": ".../app-1.log"}, ...],
     "state": "..."}

and the script keeps running. SIGTERM or SIGINT: SIGTERM to every replica, a grace period
(the service's stop_grace_period, 30 s), then SIGKILL; exit status 0 when every replica
stopped within it. A replica that exits before it is healthy: its log's tail on stderr,
the others stopped, exit status 1. A replica that dies later is reported on stderr and the
others keep serving (there is no restart); when none is left, exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fnmatch
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import Any, TextIO
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"
CONTAINER_ROOT = PurePosixPath("/app")  # the image's WORKDIR, where the code is
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
LOOPBACK = "127.0.0.1"
# What the Dockerfile's ENV sets that matters to the app (PATH and PYTHONPATH are the
# image's layout and do not apply here).
IMAGE_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# Taken from this shell: the process basics, none of the app's settings (a container sees
# none of its host's environment either).
PASSED_THROUGH = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
COMPLETED = "service_completed_successfully"
DEFAULT_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.2
LOG_TAIL_LINES = 40
PR_SET_PDEATHSIG = 1


class ClusterError(Exception):
    """Something that stops the cluster from starting; the message says what."""


# --- compose.yaml ------------------------------------------------------------------------


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ClusterError(f"{path}: no services")
    return document


def service(compose: Mapping[str, Any], name: str) -> dict[str, Any]:
    services = compose["services"]
    if name not in services:
        raise ClusterError(f"compose.yaml has no service {name!r}; it has {', '.join(services)}")
    return dict(services[name])


def depends_on(spec: Mapping[str, Any]) -> dict[str, str]:
    """The service's dependencies and their conditions (the short list form means started)."""
    raw = spec.get("depends_on") or {}
    if isinstance(raw, list):
        return {str(name): "service_started" for name in raw}
    return {
        str(name): str((value or {}).get("condition", "service_started"))
        for name, value in raw.items()
    }


def is_ours(spec: Mapping[str, Any]) -> bool:
    """Built from this repository (runs its code), not a third-party image like postgres."""
    return "build" in spec


def one_shot_order(compose: Mapping[str, Any], app: str) -> list[str]:
    """The one-shot services `app` waits for, each after its own dependencies."""
    order: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            raise ClusterError(f"compose.yaml: depends_on cycle {' -> '.join((*trail, name))}")
        for dependency, condition in depends_on(service(compose, name)).items():
            spec = service(compose, dependency)
            if not is_ours(spec):
                continue  # postgres, redis: the local servers stand in for them
            if condition != COMPLETED:
                raise ClusterError(
                    f"compose.yaml: {name} waits for {dependency} ({condition}); only one-shot "
                    f"services ({COMPLETED}) of this image can be run here"
                )
            visit(dependency, (*trail, name))
            if dependency not in order:
                order.append(dependency)

    visit(app, ())
    return order


def external_services(compose: Mapping[str, Any]) -> list[str]:
    return [name for name, spec in compose["services"].items() if not is_ours(spec)]


def environment_of(spec: Mapping[str, Any]) -> dict[str, str | None]:
    """The service's `environment`, as a mapping (None: taken from the shell by compose)."""
    raw = spec.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.partition("=") for item in raw)
        return {name: (value if sep else None) for name, sep, value in pairs}
    return {str(name): None if value is None else _scalar(value) for name, value in raw.items()}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def command_of(spec: Mapping[str, Any], name: str) -> list[str]:
    command = spec.get("command")
    if isinstance(command, str):
        command = command.split()
    if not command:
        raise ClusterError(f"compose.yaml: service {name} has no command")
    return [str(part) for part in command]


def replicas_of(spec: Mapping[str, Any]) -> int:
    return int(((spec.get("deploy") or {}).get("replicas")) or 1)


def grace_seconds(spec: Mapping[str, Any]) -> float:
    """stop_grace_period ("30s", "1m30s"), or compose's own default of 10 s."""
    text = str(spec.get("stop_grace_period") or "10s")
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ClusterError(f"compose.yaml: stop_grace_period {text!r} not understood")
    return sum(float(number) * units[unit] for number, unit in parts)


def volume_mounts(compose: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, str]:
    """Container path -> named volume, for the service's named-volume mounts."""
    named = set((compose.get("volumes") or {}).keys())
    mounts: dict[str, str] = {}
    for entry in spec.get("volumes") or []:
        if isinstance(entry, dict):
            source, target = entry.get("source"), entry.get("target")
        else:
            source, _, rest = str(entry).partition(":")
            target = rest.partition(":")[0]
        if source in named and target:
            mounts[str(target)] = str(source)
    return mounts


# --- translation to this machine ---------------------------------------------------------


@dataclass
class Translation:
    """How compose's view of the world maps onto this machine."""

    state: Path
    database_url: str
    redis_url: str
    hosts: Sequence[str]  # compose service names that are local servers here
    volumes: dict[str, Path] = field(default_factory=dict)  # container path -> local folder

    def path(self, value: str) -> str:
        """A container path as the local path (a volume's folder, or the repository)."""
        if not value.startswith("/"):
            return value
        posix = PurePosixPath(value)
        for target, folder in sorted(self.volumes.items(), key=lambda item: -len(item[0])):
            with contextlib.suppress(ValueError):
                return str(folder.joinpath(*posix.relative_to(target).parts))
        with contextlib.suppress(ValueError):
            return str(ROOT.joinpath(*posix.relative_to(CONTAINER_ROOT).parts))
        return value

    def value(self, name: str, value: str) -> str:
        if name == "DATABASE_URL":
            return self.database_url
        if name == "REDIS_URL":
            return self.redis_url
        for host in self.hosts:
            # postgres:5432, //redis:6379, @postgres/ ... but not a word that merely contains it
            value = re.sub(rf"(?<=[@/]){re.escape(host)}(?=[:/]|$)", LOOPBACK, value)
        return self.path(value)

    def environment(self, spec: Mapping[str, Any]) -> dict[str, str]:
        translated: dict[str, str] = {}
        for name, value in environment_of(spec).items():
            if value is None:
                if name in os.environ:
                    translated[name] = os.environ[name]
                continue
            translated[name] = self.value(name, value)
        return translated


def ignored_by_docker(relative: PurePosixPath) -> bool:
    """Whether .dockerignore keeps this path (relative to the build context) out of the image."""
    if not DOCKERIGNORE.exists():
        return False
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        prefixes = [PurePosixPath(*relative.parts[:n]) for n in range(1, len(relative.parts) + 1)]
        if any(fnmatch.fnmatch(str(prefix), pattern) for prefix in prefixes):
            ignored = not negated
    return ignored


def prepare_volumes(
    compose: Mapping[str, Any], services: Iterable[str], state: Path
) -> dict[str, Path]:
    """One folder per named volume the services mount; seeded from the repository where
    the image has content at the mount point (as Docker seeds a new named volume)."""
    folders: dict[str, Path] = {}
    for name in services:
        for target, volume in volume_mounts(compose, service(compose, name)).items():
            folder = state / volume
            folders[target] = folder
            if folder.exists():
                continue
            try:
                relative = PurePosixPath(target).relative_to(CONTAINER_ROOT)
            except ValueError:
                relative = None
            source = ROOT.joinpath(*relative.parts) if relative else None
            if source is not None and source.is_dir() and not ignored_by_docker(relative):
                shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                folder.mkdir(parents=True)
    return folders


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose's env_file takes them (comments, blanks, `export `)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        name, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            raise ClusterError(f"{path}:{number}: not NAME=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def base_environment() -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(IMAGE_ENVIRONMENT)
    return env


def local_pseudonym_key(state: Path) -> str:
    path = state / "pseudonym.key"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        say(f"no PSEUDONYM_KEY given: made one for this state folder in {path}")
    return path.read_text(encoding="ascii").strip()


def local_command(command: Sequence[str]) -> list[str]:
    return [sys.executable, *command[1:]] if command and command[0] == "python" else list(command)


def check_reachable(url: str, what: str) -> None:
    """A clear line now instead of a replica's traceback later."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite") or not parts.hostname:
        return
    default_port = 6379 if parts.scheme.startswith("redis") else 5432
    try:
        socket.create_connection((parts.hostname, parts.port or default_port), timeout=3).close()
    except OSError as exc:
        raise ClusterError(
            f"{what} at {parts.hostname}:{parts.port or default_port}: {exc}"
        ) from exc


# --- processes ---------------------------------------------------------------------------


class StopRequestError(Exception):
    """SIGTERM or SIGINT arrived."""


_stop_requested = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _stop_requested
    _stop_requested = True


def _check_stop() -> None:
    if _stop_requested:
        raise StopRequestError


def _die_with_parent() -> None:
    """In the child: SIGTERM when this script dies, even by SIGKILL (Linux), so that no
    replica outlives it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(command: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            local_command(command),
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C in this terminal reaches this script only,
            # which then stops the replicas in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def say(message: str, stream: TextIO | None = None) -> None:
    print(f"local-cluster: {message}", file=stream or sys.stderr, flush=True)


def terminate(processes: Sequence[subprocess.Popen[bytes]], grace: float) -> bool:
    """SIGTERM to each still running process (its whole group), SIGKILL after `grace`
    seconds; True when all stopped within the grace period."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in running):
        time.sleep(POLL_SECONDS / 2)
    clean = True
    for process in running:
        if process.poll() is None:
            clean = False
            say(f"pid {process.pid} still running after {grace:.0f} s: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Whatever the processes left in their groups goes too.
    for process in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return clean


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class Replica:
    index: int
    process: subprocess.Popen[bytes]
    web: str
    api: str
    log: Path
    health_url: str
    healthy: bool = False
    reported: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "pid": self.process.pid,
            "web": self.web,
            "api": self.api,
            "log": str(self.log),
        }


# --- the cluster -------------------------------------------------------------------------


def run_one_shot(name: str, command: Sequence[str], env: Mapping[str, str], state: Path) -> None:
    log = state / f"{name}.log"
    started = time.monotonic()
    process = spawn(command, env, log)
    try:
        while process.poll() is None:
            _check_stop()
            time.sleep(POLL_SECONDS)
    except StopRequestError:
        terminate([process], DEFAULT_GRACE_SECONDS)
        raise
    if process.returncode != 0:
        raise ClusterError(
            f"{name} ({' '.join(command)}) exited with status {process.returncode}; "
            f"the end of {log}:\n{log_tail(log)}"
        )
    say(f"{name}: done in {time.monotonic() - started:.1f} s ({log})")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="scripts/run-local-cluster",
        description="Start what compose.yaml starts, as plain processes on loopback.",
    )
    root.add_argument("--compose-file", type=Path, default=COMPOSE_FILE)
    root.add_argument("--service", default="app", help="the replicated service (default: app)")
    root.add_argument("--replicas", type=int, help="default: the service's deploy.replicas")
    root.add_argument(
        "--state",
        type=Path,
        default=ROOT / "var" / "local-cluster",
        help="folder of the volumes and logs (default: var/local-cluster)",
    )
    root.add_argument(
        "--env-file",
        type=Path,
        help="KEY=VALUE file, like compose's env_file (default: .env if present)",
    )
    root.add_argument("--no-env-file", action="store_true", help="do not read .env")
    root.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment value for every process, last word (repeatable)",
    )
    root.add_argument(
        "--database-url",
        help="the PostgreSQL database of every process, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/assistant; it is migrated, so it is "
        "required (or --set DATABASE_URL=...)",
    )
    root.add_argument("--redis-url", default=LOCAL_REDIS_URL)
    root.add_argument("--web-port", type=int, default=18081, help="WEB_PORT of replica 1")
    root.add_argument("--api-port", type=int, default=18080, help="API_PORT of replica 1")
    root.add_argument(
        "--port-step",
        type=int,
        default=2,
        help="replica i listens on --web-port/--api-port + (i - 1) * this (default: 2, so "
        "that the default 18081/18080 pairs never overlap)",
    )
    root.add_argument(
        "--wait-ready", action="store_true", help="wait for GET /readyz instead of /healthz"
    )
    root.add_argument("--health-path", help="the path waited for (default: /healthz or /readyz)")
    root.add_argument(
        "--health-port",
        choices=("web", "api"),
        default="web",
        help="which port the health path is on (default: web)",
    )
    root.add_argument(
        "--timeout", type=float, default=180.0, help="seconds for every replica to become healthy"
    )
    root.add_argument(
        "--grace", type=float, help="seconds from SIGTERM to SIGKILL (default: stop_grace_period)"
    )
    root.add_argument(
        "--skip-one-shots",
        action="store_true",
        help="do not run the one-shot services (migrate, index) first",
    )
    return root


def overrides(pairs: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ClusterError(f"--set {pair!r}: not NAME=VALUE")
        values[name] = value
    return values


def require_app_settings(given: Mapping[str, str], replicas: int) -> None:
    """What the app cannot serve without, from --set and the env file, said before anything
    starts (without a token `python -m bot` would be the local terminal chat)."""
    if not given.get("BOT_TOKEN"):
        raise ClusterError(
            "the app needs a Telegram bot's token (from @BotFather): --set BOT_TOKEN=<token> "
            "or BOT_TOKEN in .env (--env-file); to try the assistant without one, "
            "./scripts/run opens a chat in the terminal"
        )
    if replicas > 1 and not given.get("WEBHOOK_URL"):
        raise ClusterError(
            f"{replicas} replicas need webhook mode: --set WEBHOOK_URL=https://<public "
            "host>/telegram/webhook or WEBHOOK_URL in .env (long polling serves one replica)"
        )


def start(args: argparse.Namespace) -> int:
    compose = load_compose(args.compose_file)
    app = service(compose, args.service)
    one_shots = [] if args.skip_one_shots else one_shot_order(compose, args.service)
    replicas = args.replicas if args.replicas is not None else replicas_of(app)
    if replicas < 1:
        raise ClusterError("--replicas must be at least 1")
    grace = args.grace if args.grace is not None else grace_seconds(app)
    ports = [
        base + index * args.port_step
        for index in range(replicas)
        for base in (args.web_port, args.api_port)
    ]
    if len(set(ports)) != len(ports):
        raise ClusterError(
            f"ports overlap ({sorted(ports)}): choose --web-port, --api-port and --port-step "
            "so that every replica's pair is its own"
        )
    env_file = args.env_file
    if env_file is None and not args.no_env_file and (ROOT / ".env").exists():
        env_file = ROOT / ".env"
    from_file = read_env_file(env_file) if env_file is not None and not args.no_env_file else {}
    last_word = overrides(args.set)
    require_app_settings({**from_file, **last_word}, replicas)
    database_url = last_word.get("DATABASE_URL") or args.database_url
    if not database_url:
        raise ClusterError(
            "which database? The migrate step changes it, so none is chosen for you: "
            "--database-url postgresql+asyncpg://USER@127.0.0.1:5432/NAME "
            "(or --set DATABASE_URL=...)"
        )
    redis_url = last_word.get("REDIS_URL", args.redis_url)
    state: Path = args.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    check_reachable(database_url, "the database")
    check_reachable(redis_url, "Redis")

    translation = Translation(
        state=state,
        database_url=database_url,
        redis_url=redis_url,
        hosts=external_services(compose),
        volumes=prepare_volumes(compose, [*one_shots, args.service], state),
    )

    # In compose the key comes from .env; here a local one is made once when none is given,
    # so that a plain start works and every process shares it (the app refuses PostgreSQL
    # without one).
    generated = {}
    if "PSEUDONYM_KEY" not in from_file and "PSEUDONYM_KEY" not in last_word:
        generated["PSEUDONYM_KEY"] = local_pseudonym_key(state)

    def environment(spec: Mapping[str, Any], local: Mapping[str, str]) -> dict[str, str]:
        return {
            **base_environment(),
            **generated,
            **from_file,
            **translation.environment(spec),
            **local,
            **last_word,
        }

    for name in one_shots:
        spec = service(compose, name)
        run_one_shot(name, command_of(spec, name), environment(spec, {}), state)

    command = command_of(app, args.service)
    health_path = args.health_path or ("/readyz" if args.wait_ready else "/healthz")
    started: list[Replica] = []
    try:
        for index in range(1, replicas + 1):
            web_port = args.web_port + (index - 1) * args.port_step
            api_port = args.api_port + (index - 1) * args.port_step
            local = {
                "WEB_HOST": LOOPBACK,
                "WEB_PORT": str(web_port),
                "API_HOST": LOOPBACK,
                "API_PORT": str(api_port),
            }
            env = environment(app, local)
            # --set may move the ports too; the URLs follow what the process reads.
            web = f"http://{LOOPBACK}:{env['WEB_PORT']}"
            api = f"http://{LOOPBACK}:{env['API_PORT']}"
            log = state / f"{args.service}-{index}.log"
            log.write_bytes(b"")
            process = spawn(command, env, log)
            base = web if args.health_port == "web" else api
            started.append(Replica(index, process, web, api, log, base + health_path))
        wait_healthy(started, args.timeout)
        print(
            json.dumps({"replicas": [r.describe() for r in started], "state": str(state)}),
            flush=True,
        )
        say(f"{len(started)} replica(s) healthy; SIGTERM or Ctrl-C stops them")
        serve(started)
    except StopRequestError:
        say("stopping")
    except ClusterError:
        terminate([replica.process for replica in started], grace)
        raise
    alive = [replica for replica in started if replica.process.poll() is None]
    clean = terminate([replica.process for replica in alive], grace)
    say("stopped" if clean else "stopped, not all within the grace period")
    return 0 if clean else 1


def wait_healthy(replicas: Sequence[Replica], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(replica.healthy for replica in replicas):
        _check_stop()
        for replica in replicas:
            if replica.process.poll() is not None:
                raise ClusterError(
                    f"replica {replica.index} exited with status {replica.process.returncode} "
                    f"before it was healthy; the end of {replica.log}:\n{log_tail(replica.log)}"
                )
            if not replica.healthy and http_ok(replica.health_url):
                replica.healthy = True
                say(f"replica {replica.index} (pid {replica.process.pid}) healthy: {replica.web}")
        if time.monotonic() > deadline:
            waiting = [r for r in replicas if not r.healthy]
            tails = "\n".join(f"--- {r.log}:\n{log_tail(r.log)}" for r in waiting)
            raise ClusterError(
                f"no 200 from {', '.join(r.health_url for r in waiting)} within "
                f"{timeout:.0f} s\n{tails}"
            )
        time.sleep(POLL_SECONDS)


def serve(replicas: Sequence[Replica]) -> None:
    """Until a signal; a replica that dies is reported, the others keep serving."""
    while True:
        _check_stop()
        for replica in replicas:
            if not replica.reported and replica.process.poll() is not None:
                replica.reported = True
                say(
                    f"replica {replica.index} (pid {replica.process.pid}) exited with status "
                    f"{replica.process.returncode}; the end of {replica.log}:\n"
                    f"{log_tail(replica.log, 10)}"
                )
        if all(replica.reported for replica in replicas):
            raise ClusterError("every replica has exited")
        time.sleep(POLL_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        return start(args)
    except ClusterError as exc:
        say(f"error: {exc}")
        return 1
    except StopRequestError:
        say("stopped before the replicas started")
        return 1


if __name__ == "__main__":
    sys.exit(main())
