"""Load benchmark of the web chat: `python -m benchmarks.web_chat`.

The app runs as a process of its own, as `python -m bot --web` runs it (no bot token: the
web chat and the REST API on API_HOST:API_PORT; SQLite in a temporary folder, the web
conversations kept in the process; logging at INFO, production format, into a file), or,
with `--replicas 2` (or `--cluster`), as compose runs it: `scripts/local_cluster.py`
replicas of `python -m bot` in webhook mode on loopback (benchmarks.cluster's way: a new
PostgreSQL database `bench_cluster_<hex>`, dropped at the end; the local Redis, where the
web conversations are then kept; the demo index built by the cluster's `index` step), each
serving the web chat beside its API; the keys the round left in Redis are deleted.

This process is the load generator: N web visitors, each loading its shop's chat page (for
the visitor cookie) and opening the conversation's WebSocket (bot/web/PROTOCOL.md):
`hello`, then the assistant's welcome.

Per round, in order:

- prime: every eval question (tests/eval/questions.jsonl) asked once per replica, so that
  the answer caches are as warm as they will get (the Telegram comparison primes alike);
- base: the replicas' resident memory (VmRSS of /proc/<pid>/status) with no session open;
- idle: N sessions opened (at most 32 at once; spread over the replicas in turn), each
  welcomed, then quiet: memory above base, per idle session, against the target (500 idle
  sessions in under 150 MB above the replica's base);
- active: the N sessions ask their shop's eval questions in a closed loop (the next one as
  soon as the answer to the previous one arrived), a warm-up, then a measured window:
  answers per second, latency from just before the `message` frame is sent until the first
  bot `message` event after the question's own echo (p50/p90/p99/max), errors and
  timeouts, CPU of the replicas and of the generator, peak memory per active session;
- closed: every socket closed: the memory the conversations keep (their transcripts).
- Telegram, for comparison (`--no-compare` skips it): benchmarks.bot_webhook's closed-loop
  chats (an update POSTed to the webhook, the answer's sendMessage at the fake Bot API), as
  many as sessions (`--compare-chats`), primed, warmed and measured the same way, with the
  same patience (the fake's webhook client gets no pool limit and REPLY_TIMEOUT). With one
  replica it is `python -m bot` in webhook mode started anew with the same settings (plus a
  token and the fake Bot API in this process); on the cluster, the same replicas' webhooks
  (primed by the web round: both doors share the answer cache). The ratio of the web
  chat's answers/s to it is printed against the target (within 10 %), and the
  ratio of the replicas' CPU time per answer, which other work on the machine moves less.

Everything is on loopback, bounded in count and in time (`--timeout`), and stops by itself.
The figures describe this machine at this moment; they are printed, never asserted.

    python -m benchmarks.web_chat [--sessions 500] [--seconds 20] [--warmup 5]
        [--replicas 1[,2]] [--cluster] [--compare-chats N] [--no-compare] [--no-repeats]
        [--prime N] [--index-dir DIR] [--keep-logs DIR] [--timeout 1200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from benchmarks.bot_webhook import (
    APOLOGY_MARKER,
    QUESTIONS,
    THROTTLE_OFF,
    ChatLoad,
    ReplyWatchingFake,
    _cpu_seconds,
    _free_port,
    _load_average,
    _mib,
    _status_kib,
    count_list,
    latency_summary,
    load_questions,
)
from benchmarks.privacy_api import BenchError, run_and_report
from bot.web.visitors import COOKIE_NAME, VisitorCookies
from tests.support.fake_bot_api import ApiCall

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REDIS = "redis://127.0.0.1:6379/0"

IDLE_TARGET_MB = 150.0  # 500 idle sessions above the replica's base (issue 14)
IDLE_TARGET_SESSIONS = 500
RATIO_TARGET = 0.9  # web answers/s at least 90 % of the Telegram webhook bench's
# A closed loop of hundreds of sessions on two cores queues questions for seconds: a
# question counts as timed out only after this long (the same for the Telegram chats).
REPLY_TIMEOUT = 60.0
OPEN_TIMEOUT = 60.0  # page, socket, hello, welcome
OPEN_AT_ONCE = 32  # sessions opening at the same time (the listen backlog is 128)
PRIME_PER_SHOP = 2  # sessions per shop and replica asking the eval questions once
T = TypeVar("T")
SETTLE_SECONDS = 2.0  # quiet before a memory reading
RSS_EVERY = 0.25  # seconds between memory samples in the active window
STARTUP_TIMEOUT = 300.0  # the app may build the index first
STOP_GRACE = 30.0
PSEUDONYM_KEY = "w" * 48
TELEGRAM_TOKEN = "42:TEST"
SHELL_BASICS = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
IMAGE_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# Limits raised out of reach: every session comes from 127.0.0.1 and asks far faster than
# a person (each stands for many visitors); their cost per frame is still paid.
WIDE_OPEN = {
    "BOT_THROTTLE_MESSAGES": str(THROTTLE_OFF),
    "WEB_CHAT_SOCKETS_PER_ADDRESS": "1000000",
    "WEB_CHAT_FRAMES_PER_ADDRESS": "1000000000",
}
MIB = 1024 * 1024


@dataclass
class Options:
    sessions: int = 500
    seconds: float = 20.0
    warmup: float = 5.0
    replicas: Sequence[int] = (1,)
    cluster: bool = False  # one replica on the local cluster too (else `python -m bot --web`)
    compare: bool = True
    compare_chats: int | None = None  # Telegram chats (default: as many as sessions)
    no_repeats: bool = False
    prime: int | None = None  # eval questions per shop asked once before measuring (all)
    index_dir: Path | None = None
    timeout: float = 1200.0
    keep_logs: Path | None = None  # the app processes' logs are copied here


# ------------------------------------------------------------------------------------------
# Measurements


def _rss_mib(pids: Sequence[int]) -> list[float | None]:
    return [_mib(_status_kib("VmRSS", pid)) for pid in pids]


def _above(now: Sequence[float | None], base: Sequence[float | None]) -> float | None:
    """Total MiB above base over the replicas."""
    if any(value is None for value in (*now, *base)):
        return None
    return round(sum(n or 0.0 for n in now) - sum(b or 0.0 for b in base), 1)


def _per_session_kib(total_mib: float | None, sessions: int) -> float | None:
    return None if total_mib is None or sessions <= 0 else round(total_mib * 1024 / sessions, 1)


class RssPeak:
    """The highest VmRSS of each process while the block runs (sampled)."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.peak: list[float | None] = _rss_mib(self.pids)
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(RSS_EVERY)
            for i, value in enumerate(_rss_mib(self.pids)):
                peak = self.peak[i]
                if value is not None and (peak is None or value > peak):
                    self.peak[i] = value

    async def __aenter__(self) -> RssPeak:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _cores(pids: Sequence[int]) -> list[float | None]:
    return [_cpu_seconds(f"/proc/{pid}/stat") for pid in pids]


def _loop_cores(pids: Sequence[int]) -> list[float | None]:
    # The main thread runs the event loop; its task id is the process id.
    return [_cpu_seconds(f"/proc/{pid}/task/{pid}/stat") for pid in pids]


def _rates(
    before: Sequence[float | None], after: Sequence[float | None], elapsed: float
) -> list[float | None]:
    return [
        None if b is None or a is None else round((a - b) / elapsed, 2)
        for b, a in zip(before, after, strict=True)
    ]


class CpuWindow:
    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.began = time.monotonic()
        self.app = _cores(self.pids)
        self.loop = _loop_cores(self.pids)
        self.generator = _cpu_seconds("/proc/self/stat")

    def used(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.began
        generator = _cpu_seconds("/proc/self/stat")
        return {
            "replicas": _rates(self.app, _cores(self.pids), elapsed),
            "replicas_event_loop": _rates(self.loop, _loop_cores(self.pids), elapsed),
            "load_generator": _rates([self.generator], [generator], elapsed)[0],
        }


async def _redis_used_mib() -> float | None:
    """used_memory of the local Redis (shared with anything else using it)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS)
    try:
        info = await client.info("memory")
        return round(int(info["used_memory"]) / MIB, 2)
    except Exception:
        return None
    finally:
        await client.aclose()


def _problem(text: str) -> str:
    """A log problem without what differs between its occurrences (ids, numbers, shops)."""
    text = re.sub(r"/chat/[^/\s]+/", "/chat/<shop>/", text)
    return re.sub(r"\d+", "N", text)[:240]


def _log_sizes(paths: Sequence[Path]) -> list[int]:
    return [path.stat().st_size if path.exists() else 0 for path in paths]


def _log_levels(paths: Sequence[Path], offsets: Sequence[int] | None = None) -> dict[str, Any]:
    """Records by level in the replicas' logs (text or JSON lines; from `offsets` on), and
    the most frequent warnings and errors, each with the last line of its exception."""
    levels: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    text_line = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)")
    for i, path in enumerate(paths):
        with contextlib.suppress(OSError), path.open(encoding="utf-8", errors="replace") as log:
            if offsets is not None:
                log.seek(offsets[i])
            last: str | None = None  # a text-format problem whose traceback may follow
            in_traceback = False
            for line in log:
                if line.startswith("{"):
                    try:
                        record = json.loads(line)
                        level = str(record.get("level", "")).upper()
                    except (ValueError, AttributeError):
                        continue
                    levels[level] += 1
                    if level in ("WARNING", "ERROR", "CRITICAL"):
                        exc = str(record.get("exc") or "").strip().splitlines()
                        cause = f" <- {exc[-1]}" if exc else ""
                        message = f"{record.get('logger')}: {record.get('message')}"
                        problems[_problem(f"{level} {message}{cause}")] += 1
                elif found := text_line.match(line):
                    levels[found.group(1)] += 1
                    last = None
                    if found.group(1) in ("WARNING", "ERROR", "CRITICAL"):
                        last = _problem(f"{found.group(1)} {found.group(2)}")
                        problems[last] += 1
                elif line.startswith("Traceback"):
                    in_traceback = True
                elif in_traceback and line.strip() and not line.startswith(" "):
                    in_traceback = False  # the exception's own line
                    if last is not None:
                        problems[last] -= 1
                        problems[_problem(f"{last} <- {line.strip()}")] += 1
    top = [f"{count} x {problem}" for problem, count in problems.most_common(5) if count > 0]
    return {"records": dict(levels), "top_problems": top}


# ------------------------------------------------------------------------------------------
# The web visitors


class WebSession:
    """One visitor of one shop: the page (its cookie), the socket, questions one at a time.

    A question's answer is the first bot message after the question's own echo (the
    customer event carrying its nonce): events come in order, each once (`seq`)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        shop: str,
        chat_ids: set[int] | None = None,
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.shop = shop
        self.chat_ids = chat_ids  # where to note the conversation's chat id
        self.cookie: str | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.last_seq = 0
        self.closed: int | None = None
        self.unexpected_bot_messages = 0
        self._reader: asyncio.Task[None] | None = None
        self._welcome: asyncio.Future[float] | None = None
        self._nonce: str | None = None
        self._echo: int | None = None
        # The answer's arrival (monotonic), or why there is none.
        self._answer: asyncio.Future[float | str] | None = None

    async def open(self) -> float:
        """Seconds from the page request to the welcome; BenchError(reason) if refused."""
        began = time.monotonic()
        loop = asyncio.get_running_loop()
        async with self.http.get(f"{self.base_url}/chat/{self.shop}?lang=en") as page:
            await page.read()
            if page.status != 200:
                raise BenchError(f"page_http_{page.status}")
            morsel = page.cookies.get(COOKIE_NAME)
        self.cookie = morsel.value if morsel is not None else None
        headers = {"Cookie": f"{COOKIE_NAME}={self.cookie}"} if self.cookie else {}
        if self.cookie is not None and self.chat_ids is not None:
            visitor = self.cookie.split(".")[0]
            self.chat_ids.add(VisitorCookies(PSEUDONYM_KEY.encode()).chat_id(visitor, self.shop))
        self._welcome = loop.create_future()
        self.ws = await self.http.ws_connect(
            f"{self.base_url}/chat/{self.shop}/socket?lang=en",
            origin=self.base_url,
            headers=headers,
        )
        self._reader = asyncio.create_task(self._read(self.ws))
        await self.ws.send_str(json.dumps({"type": "hello", "after": 0}))
        welcomed = await asyncio.wait_for(asyncio.shield(self._welcome), OPEN_TIMEOUT)
        return welcomed - began

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                at = time.monotonic()
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                self._frame(json.loads(message.data), at)
        finally:
            self.closed = ws.close_code if ws.close_code is not None else -1
            reason = f"socket_closed_{self.closed}"
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_exception(BenchError(reason))
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(reason)

    def _frame(self, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("type")
        if "seq" in frame:
            if frame["seq"] <= self.last_seq:
                return
            self.last_seq = frame["seq"]
            if kind != "message":
                return
            if frame.get("from") == "customer":
                if self._nonce is not None and frame.get("nonce") == self._nonce:
                    self._echo = frame["seq"]
                return
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(at)
            elif self._answer is not None and not self._answer.done() and self._echo is not None:
                apology = APOLOGY_MARKER in str(frame.get("html", ""))
                self._answer.set_result("apology_replies" if apology else at)
            else:
                self.unexpected_bot_messages += 1
        elif kind == "error" and self._answer is not None and not self._answer.done():
            self._answer.set_result(f"error_frame_{frame.get('reason')}")
        # ready, typing, toast: nothing to measure

    async def ask(self, text: str, wait: float = REPLY_TIMEOUT) -> tuple[float, float] | str:
        """(sent at, answered at), or why there is no answer."""
        if self.ws is None or self.closed is not None:
            return "socket_closed"
        self._nonce, self._echo = uuid.uuid4().hex, None
        self._answer = answer = asyncio.get_running_loop().create_future()
        sent_at = time.monotonic()
        try:
            await self.ws.send_str(
                json.dumps({"type": "message", "text": text, "nonce": self._nonce})
            )
            outcome = await asyncio.wait_for(answer, wait)
        except TimeoutError:
            return "reply_timeout"
        except (ConnectionError, aiohttp.ClientError):
            return "send_failed"
        finally:
            self._answer = None
        return outcome if isinstance(outcome, str) else (sent_at, outcome)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 10)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


def _client() -> aiohttp.ClientSession:
    """One client for every visitor: no pool limit (a socket holds its connection), no
    cookie jar (each visitor sends its own cookie)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
    )


def _question_cycle(
    questions: Sequence[str], index: int, shops: int, sessions: int
) -> Iterator[str]:
    """Sessions of the same shop start at different questions, spread over its list (as
    benchmarks.bot_webhook's chats do)."""
    per_shop = math.ceil(sessions / shops)
    start = (index // shops) * len(questions) // per_shop
    for position in itertools.count(start):
        yield questions[position % len(questions)]


@dataclass
class ActiveLoad:
    samples: list[tuple[float, float]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


async def _ask_in_a_loop(
    session: WebSession,
    questions: Iterator[str],
    load: ActiveLoad,
    numbering: Iterator[int] | None,
) -> None:
    while not load.stopping.is_set():
        text = next(questions)
        if numbering is not None:
            text = f"{text} (#{next(numbering)})"
        outcome = await session.ask(text)
        if isinstance(outcome, str):
            load.errors[outcome] += 1
            if session.closed is not None:
                return
            continue
        load.samples.append(outcome)


async def _open_all(
    http: aiohttp.ClientSession,
    bases: Sequence[str],
    shops: Sequence[str],
    count: int,
    chat_ids: set[int],
) -> tuple[list[WebSession], list[float], Counter[str], float]:
    """`count` sessions, spread over the replicas and the shops in turn, OPEN_AT_ONCE at a
    time: the open ones, seconds to each welcome, failures, seconds for all."""
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    failures: Counter[str] = Counter()
    waits: list[float] = []
    opened: list[WebSession] = []

    async def one(index: int) -> None:
        base, shop = bases[index % len(bases)], shops[index % len(shops)]
        session = WebSession(http, base, shop, chat_ids)
        async with gate:
            try:
                waits.append(await session.open())
                opened.append(session)
            except BenchError as exc:
                failures[str(exc)] += 1
                await session.close()
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                failures[f"open_failed: {type(exc).__name__}"] += 1
                await session.close()

    began = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    return opened, waits, failures, time.monotonic() - began


async def _close_all(sessions: Sequence[WebSession]) -> None:
    for start in range(0, len(sessions), 100):
        await asyncio.gather(*(s.close() for s in sessions[start : start + 100]))


def _prime_plan(by_shop: dict[str, list[str]], prime: int | None) -> dict[str, list[str]]:
    return {shop: questions[:prime] for shop, questions in by_shop.items()}


async def _ask_plan_everywhere(
    targets: Sequence[T],
    plan: dict[str, list[str]],
    worker: Callable[[T, str, list[str]], Awaitable[None]],
) -> float:
    """`worker(target, shop, questions)` for every target (a replica), with each shop's
    questions split among PRIME_PER_SHOP workers; the seconds it took."""
    began = time.monotonic()
    await asyncio.gather(
        *(
            worker(target, shop, questions[part::PRIME_PER_SHOP])
            for target in targets
            for shop, questions in plan.items()
            for part in range(PRIME_PER_SHOP)
            if questions[part::PRIME_PER_SHOP]
        )
    )
    return time.monotonic() - began


async def _prime_web(
    http: aiohttp.ClientSession,
    bases: Sequence[str],
    plan: dict[str, list[str]],
    chat_ids: set[int],
) -> dict[str, Any]:
    """Each question of the plan asked once on every replica (PRIME_PER_SHOP sessions per
    shop and replica), then those sessions closed."""
    errors: Counter[str] = Counter()
    asked = 0

    async def worker(base: str, shop: str, questions: list[str]) -> None:
        nonlocal asked
        session = WebSession(http, base, shop, chat_ids)
        try:
            await session.open()
            for text in questions:
                outcome = await session.ask(text)
                asked += 1
                if isinstance(outcome, str):
                    errors[outcome] += 1
        except (BenchError, TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            errors[f"prime_open_failed: {exc}"] += 1
        finally:
            await session.close()

    seconds = await _ask_plan_everywhere(bases, plan, worker)
    return {"asked": asked, "seconds": round(seconds, 1), "errors": dict(errors)}


async def _prime_telegram(
    fake: ReplyWatchingFake, urls: Sequence[str], plan: dict[str, list[str]]
) -> dict[str, Any]:
    """The same for Telegram chats: `/start <shop>`, then the plan's questions, per replica."""
    errors: Counter[str] = Counter()
    asked = 0
    user_ids = itertools.count(900_000)

    async def worker(load: ChatLoad, shop: str, questions: list[str]) -> None:
        nonlocal asked
        user_id = next(user_ids)
        for text in [f"/start {shop}", *questions]:
            await load.ask(user_id, text)
            asked += 1

    loads = [_PatientChatLoad(fake, plan, 1, 0, set(), None, urls=[url]) for url in urls]
    seconds = await _ask_plan_everywhere(loads, plan, worker)
    for load in loads:
        errors.update(load.errors)
    return {"asked": asked, "seconds": round(seconds, 1), "errors": dict(errors)}


class _PatientChatLoad(ChatLoad):
    """benchmarks.bot_webhook's chats, waiting as long as the web sessions for an answer."""

    async def ask(
        self, user_id: int, text: str, wait: float = REPLY_TIMEOUT
    ) -> tuple[float, ApiCall] | None:
        return await super().ask(user_id, text, max(wait, REPLY_TIMEOUT))


# ------------------------------------------------------------------------------------------
# The replicas


@dataclass
class Replica:
    index: int
    pid: int
    base_url: str  # the API server, where the web chat is
    webhook: str | None
    log: Path


def _die_with_parent() -> None:
    """In the child: SIGTERM when this bench dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _environment(options: Options, tmp: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {name: os.environ[name] for name in SHELL_BASICS if name in os.environ}
    env.update(IMAGE_ENVIRONMENT)
    env.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'assistant.sqlite3'}",
            "PSEUDONYM_KEY": PSEUDONYM_KEY,
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "text",
            **WIDE_OPEN,
        }
    )
    if options.index_dir is not None:
        env["INDEXER_INDEX_DIR"] = str(options.index_dir)
    env.update(settings)
    return env


async def _get_status(http: aiohttp.ClientSession, url: str) -> int | None:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=3)) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError, ConnectionError):
        return None


@contextlib.asynccontextmanager
async def _app_process(
    http: aiohttp.ClientSession,
    options: Options,
    tmp: Path,
    *,
    shop: str,
    telegram: dict[str, str] | None = None,
) -> AsyncIterator[Replica]:
    """`python -m bot --web` (or, with `telegram` settings, `python -m bot` in webhook
    mode), served until the block ends; ready once its chat page answers 200."""
    api_port = _free_port()
    settings = {"API_HOST": "127.0.0.1", "API_PORT": str(api_port)}
    webhook, ready_too = None, []
    if telegram is not None:
        web_port = _free_port()
        webhook = f"http://127.0.0.1:{web_port}/telegram/webhook"
        ready_too.append(f"http://127.0.0.1:{web_port}/readyz")
        settings |= {"WEB_HOST": "127.0.0.1", "WEB_PORT": str(web_port), "WEBHOOK_URL": webhook}
        settings |= telegram
    log = tmp / ("app-telegram.log" if telegram else "app-web.log")
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *([] if telegram else ["--web"]),
            cwd=PROJECT_ROOT,
            env=_environment(options, tmp, settings),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    base = f"http://127.0.0.1:{api_port}"
    # Ready: the chat page (the door attached) and, in webhook mode, the webhook's server.
    ready = [f"{base}/chat/{shop}", *ready_too]
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not all([await _get_status(http, url) == 200 for url in ready]):
            if process.returncode is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise BenchError(f"the app exited with status {process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise BenchError(f"the app did not serve {base}/chat/{shop} in time")
            await asyncio.sleep(0.25)
        yield Replica(1, process.pid, base, webhook, log)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            process.kill()
            await process.wait()


@dataclass
class Served:
    replicas: list[Replica]
    mode: str
    fake: ReplyWatchingFake | None = None
    chat_ids: set[int] = field(default_factory=set)  # web chats to remove from Redis after


@contextlib.asynccontextmanager
async def _local_cluster(options: Options, count: int, root: Path) -> AsyncIterator[Served]:
    """scripts/local_cluster.py with `count` replicas (as benchmarks.cluster starts it),
    their web chats beside their APIs, the fake Bot API here."""
    from benchmarks.cluster import _cluster, _database

    state = root / f"cluster-{count}" / "state"
    cache = PROJECT_ROOT / "var" / "index" / "embedding-cache.sqlite3"
    if cache.exists():  # saves the index step embedding the demo policies again
        (state / "index").mkdir(parents=True)
        shutil.copy2(cache, state / "index")
    token = f"{secrets.randbelow(10**9) + 10**6}:BENCH"  # update claims are per bot
    async with ReplyWatchingFake(token=token) as fake, _database() as database_url:
        settings = {
            "BOT_TOKEN": fake.token,
            "BOT_API_URL": fake.base_url,
            "WEBHOOK_URL": "https://assistant.example.com/telegram/webhook",
            "BOT_SENDING_LIMITS": "false",
            "PSEUDONYM_KEY": PSEUDONYM_KEY,
            "LOG_FORMAT": "json",
            "INDEXER_THREADS": str(max(1, (os.cpu_count() or 1) // count)),
            **WIDE_OPEN,
        }
        served = Served(
            [],
            f"local cluster: {count} x python -m bot (webhook mode, web chat beside the API), "
            "PostgreSQL, Redis (web conversations in Redis), JSON logs",
            fake,
        )
        try:
            async with _cluster(count, state, database_url, settings) as cluster:
                served.replicas = [
                    Replica(r.index, r.pid, r.api, r.webhook, r.log) for r in cluster.replicas
                ]
                yield served
        finally:  # once the replicas have stopped
            await _forget_in_redis(served, fake.token)


async def _forget_in_redis(served: Served, token: str) -> None:
    """The keys this round left in the local Redis: its web chats' and its bot's."""
    import redis.asyncio as aioredis

    segments = {str(chat_id) for chat_id in served.chat_ids} | {token.split(":")[0]}
    client = aioredis.from_url(REDIS)
    try:
        doomed = [
            key
            async for key in client.scan_iter(match="privacy-assistant:*", count=1000)
            if segments & set(key.decode(errors="replace").split(":"))
        ]
        for start in range(0, len(doomed), 500):
            await client.delete(*doomed[start : start + 500])
    except Exception:
        return
    finally:
        await client.aclose()


# ------------------------------------------------------------------------------------------
# A round


async def _closed_loop(
    tasks: Sequence[asyncio.Task[None]],
    stopping: asyncio.Event,
    samples: Callable[[], list[tuple[float, float]]],
    errors: Counter[str],
    options: Options,
    pids: Sequence[int],
) -> dict[str, Any]:
    """A closed loop already running in `tasks`: a warm-up, the measured window, then a
    stop (the questions in flight get their answer or REPLY_TIMEOUT); the figures.
    `samples`: (sent at, answered at) of every answer so far."""
    async with RssPeak(pids) as peak:
        await asyncio.sleep(options.warmup)
        start, cpu, load_start = time.monotonic(), CpuWindow(pids), _load_average()
        await asyncio.sleep(options.seconds)
        end, cores, load_end = time.monotonic(), cpu.used(), _load_average()
        rss_end = _rss_mib(pids)
    stopping.set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=REPLY_TIMEOUT + 5)
        for task in pending:
            task.cancel()
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            errors[f"crashed: {outcome!r}"[:200]] += 1
    elapsed = end - start
    # Answers that arrived inside the window; latency of the questions also asked in it.
    answered = [s for s in samples() if start <= s[1] <= end]
    latencies = [answer - sent for sent, answer in answered if sent >= start]
    used = [c for c in cores["replicas"] if c is not None]
    cpu_ms = None
    if answered and len(used) == len(pids):
        cpu_ms = round(sum(used) * elapsed * 1000 / len(answered), 2)
    return {
        "warmup_seconds": options.warmup,
        "seconds": round(elapsed, 3),
        "answered": len(answered),
        "answers_per_second": round(len(answered) / elapsed, 1),
        "latency_ms": latency_summary(latencies),
        "errors": dict(errors),
        "cpu_cores": cores,
        "replica_cpu_ms_per_answer": cpu_ms,
        "load_average": {"start": load_start, "end": load_end},
        "rss_peak": peak.peak,
        "rss_end": rss_end,
    }


async def _web_round(
    http: aiohttp.ClientSession,
    served: Served,
    options: Options,
    by_shop: dict[str, list[str]],
    say: Callable[[str], None],
) -> dict[str, Any]:
    replicas = served.replicas
    pids = [r.pid for r in replicas]
    bases = [r.base_url for r in replicas]
    shops = sorted(by_shop)
    redis = served.fake is not None
    result: dict[str, Any] = {"replicas": len(replicas), "mode": served.mode}

    prime = await _prime_web(http, bases, _prime_plan(by_shop, options.prime), served.chat_ids)
    result["prime"] = prime
    say(f"  primed: {prime['asked']} questions in {prime['seconds']} s, errors {prime['errors']}")

    await asyncio.sleep(SETTLE_SECONDS)
    base = _rss_mib(pids)
    redis_mib: dict[str, float | None] = {"base": await _redis_used_mib()} if redis else {}
    say(f"  base RSS {base} MiB")

    sessions, waits, failures, took = await _open_all(
        http, bases, shops, options.sessions, served.chat_ids
    )
    result["open"] = {
        "sessions": options.sessions,
        "opened": len(sessions),
        "failed": dict(failures),
        "seconds": round(took, 2),
        "welcome_ms": latency_summary(waits),
    }
    await asyncio.sleep(SETTLE_SECONDS)
    idle = _rss_mib(pids)
    if redis:
        redis_mib["idle"] = await _redis_used_mib()
    say(
        f"  {len(sessions)} sessions open in {took:.1f} s ({dict(failures) or 'no failures'}); "
        f"idle RSS {idle} MiB"
    )

    load = ActiveLoad()
    numbering = itertools.count(1) if options.no_repeats else None
    places: Counter[str] = Counter()
    tasks = []
    for session in sessions:
        position = places[session.shop] * len(shops) + shops.index(session.shop)
        places[session.shop] += 1
        questions = _question_cycle(by_shop[session.shop], position, len(shops), len(sessions))
        tasks.append(asyncio.create_task(_ask_in_a_loop(session, questions, load, numbering)))
    measured = await _closed_loop(
        tasks, load.stopping, lambda: load.samples, load.errors, options, pids
    )
    peak, active_end = measured.pop("rss_peak"), measured.pop("rss_end")
    if redis:
        redis_mib["active"] = await _redis_used_mib()
    result["active"] = {
        "sessions": len(sessions),
        **measured,
        "unexpected_bot_messages": sum(s.unexpected_bot_messages for s in sessions),
    }
    say("  " + _active_line(result["active"]))

    await _close_all(sessions)
    await asyncio.sleep(SETTLE_SECONDS)
    closed = _rss_mib(pids)
    if redis:
        redis_mib["closed"] = await _redis_used_mib()
    n = len(sessions)
    idle_total = _above(idle, base)
    active_total = _above(peak, base)
    closed_total = _above(closed, base)
    result["memory"] = {
        "rss_mib": {
            "base": base,
            "idle": idle,
            "active_peak": peak,
            "active_end": active_end,
            "closed": closed,
        },
        "idle_total_above_base_mib": idle_total,
        "idle_per_session_kib": _per_session_kib(idle_total, n),
        "active_peak_above_base_mib": active_total,
        "active_per_session_kib": _per_session_kib(active_total, n),
        "closed_above_base_mib": closed_total,
        "kept_per_closed_session_kib": _per_session_kib(closed_total, n),
        "idle_target": {
            "sessions": IDLE_TARGET_SESSIONS,
            "mib": round(IDLE_TARGET_MB * 1e6 / MIB, 1),
            "per_session_kib": round(IDLE_TARGET_MB * 1e6 / 1024 / IDLE_TARGET_SESSIONS, 1),
        },
        "redis_used_mib": redis_mib or None,
    }
    return result


async def _telegram_round(
    fake: ReplyWatchingFake,
    replicas: Sequence[Replica],
    options: Options,
    by_shop: dict[str, list[str]],
    *,
    prime: bool,
) -> dict[str, Any]:
    """benchmarks.bot_webhook's closed-loop chats against the replicas' webhooks. The fake
    Bot API's webhook client (its own: 100 connections, 10 s) is given the sessions'
    patience and no pool limit, so that as many chats as web sessions can wait in line."""
    if fake._client is None:
        fake._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT),
        )
    urls = [r.webhook for r in replicas if r.webhook]
    pids = [r.pid for r in replicas]
    primed = (
        await _prime_telegram(fake, urls, _prime_plan(by_shop, options.prime)) if prime else None
    )
    numbering = itertools.count(1) if options.no_repeats else None
    chats = options.compare_chats or options.sessions
    load = _PatientChatLoad(fake, by_shop, chats, 100_000, set(), numbering, urls=urls)
    unexpected_before = fake.unexpected_messages
    tasks = [asyncio.create_task(load.chat(i)) for i in range(chats)]
    measured = await _closed_loop(
        tasks,
        load.stopping,
        lambda: [(sent, reply) for sent, reply, _first in load.samples],
        load.errors,
        options,
        pids,
    )
    for memory in ("rss_peak", "rss_end"):
        measured.pop(memory)
    return {
        "chats": chats,
        "prime": primed,
        **measured,
        "unexpected_messages": fake.unexpected_messages - unexpected_before,
    }


async def _round(
    http: aiohttp.ClientSession,
    count: int,
    options: Options,
    by_shop: dict[str, list[str]],
    root: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    shop = sorted(by_shop)[0]
    if count == 1 and not options.cluster:
        tmp = root / "web-only"
        tmp.mkdir()
        async with _app_process(http, options, tmp, shop=shop) as replica:
            say(f"round: python -m bot --web, pid {replica.pid}, {replica.base_url}")
            served = Served(
                [replica],
                "python -m bot --web: web chat and REST API, SQLite, web conversations in "
                "the process, text logs at INFO",
            )
            result = await _web_round(http, served, options, by_shop, say)
        result["app_log"] = _log_levels([replica.log])
        if options.compare:
            async with ReplyWatchingFake(token=TELEGRAM_TOKEN) as fake:
                telegram = {
                    "BOT_TOKEN": fake.token,
                    "BOT_API_URL": fake.base_url,
                    "BOT_SENDING_LIMITS": "false",
                }
                async with _app_process(http, options, tmp, shop=shop, telegram=telegram) as app:
                    say(f"Telegram comparison: python -m bot (webhook mode), pid {app.pid}")
                    result["telegram"] = await _telegram_round(
                        fake, [app], options, by_shop, prime=True
                    )
                result["telegram"]["mode"] = (
                    "python -m bot in webhook mode (same settings plus a token and the fake Bot "
                    "API), benchmarks.bot_webhook's chats"
                )
                result["telegram"]["app_log"] = _log_levels([app.log])
    else:
        async with _local_cluster(options, count, root) as served:
            say(
                f"round: local cluster, {count} replica(s), pids {[r.pid for r in served.replicas]}"
            )
            result = await _web_round(http, served, options, by_shop, say)
            logs = [r.log for r in served.replicas]
            result["app_log"], web_end = _log_levels(logs), _log_sizes(logs)
            if options.compare:
                assert served.fake is not None
                say("Telegram comparison on the same replicas' webhooks")
                result["telegram"] = await _telegram_round(
                    served.fake, served.replicas, options, by_shop, prime=False
                )
                result["telegram"]["mode"] = (
                    "the same replicas' webhooks (primed by the web round: the answer cache is "
                    "shared by both doors), benchmarks.bot_webhook's chats"
                )
                result["telegram"]["app_log"] = _log_levels(logs, web_end)
    if "telegram" in result:
        telegram = result["telegram"]
        web_rate, telegram_rate = (
            result["active"]["answers_per_second"],
            telegram["answers_per_second"],
        )
        telegram["ratio"] = round(web_rate / telegram_rate, 2) if telegram_rate else None
        telegram["ratio_target"] = RATIO_TARGET
        # CPU per answer shifts less than answers/s when other work shares the machine.
        web_cpu = result["active"]["replica_cpu_ms_per_answer"]
        telegram_cpu = telegram["replica_cpu_ms_per_answer"]
        telegram["cpu_per_answer_ratio"] = (
            round(web_cpu / telegram_cpu, 2) if web_cpu and telegram_cpu else None
        )
    say("  " + _telegram_line(result.get("telegram")))
    return result


def _copy_logs(root: Path, destination: Path) -> None:
    for log in [*root.rglob("*.log"), *root.rglob("*.stderr")]:
        kept = destination / log.relative_to(root)
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log, kept)


async def run_bench(
    options: Options, *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Every round of `options`; the figures."""

    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    began = time.monotonic()
    load_start = _load_average()
    by_shop = load_questions(QUESTIONS)
    rounds: list[dict[str, Any]] = []
    root = Path(tempfile.mkdtemp(prefix="bench-web-chat-"))
    try:
        async with asyncio.timeout(options.timeout), _client() as http:
            for count in options.replicas:
                rounds.append(await _round(http, count, options, by_shop, root, say))
    except TimeoutError:
        raise BenchError(f"gave up after {options.timeout:.0f} s (--timeout)") from None
    finally:
        if options.keep_logs is not None:
            _copy_logs(root, options.keep_logs)
        shutil.rmtree(root, ignore_errors=True)
    settings = asdict(options)
    settings["index_dir"] = str(options.index_dir) if options.index_dir else "var/index"
    settings["keep_logs"] = str(options.keep_logs) if options.keep_logs else None
    settings["replicas"] = list(options.replicas)
    settings |= {
        "questions": f"{sum(len(q) for q in by_shop.values())} from "
        f"{QUESTIONS.relative_to(PROJECT_ROOT)}, {len(by_shop)} shops",
        "repeats": "each text made unique (no answer-cache hits)"
        if options.no_repeats
        else "eval texts verbatim, cycled (after priming, answers come from the cache)",
        "limits": dict(WIDE_OPEN),
        "reply_timeout_seconds": REPLY_TIMEOUT,
        "open_at_once": OPEN_AT_ONCE,
        "logging": "INFO into files: text (python -m bot), JSON (the cluster)",
    }
    return {
        "bench": "web_chat",
        "settings": settings,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_start": load_start,
            "load_average_end": _load_average(),
        },
        "rounds": rounds,
        "duration_seconds": round(time.monotonic() - began, 1),
    }


# ------------------------------------------------------------------------------------------
# Output


def _latency_text(lat: dict[str, Any]) -> str:
    return f"p50 {lat['p50']} p90 {lat['p90']} p99 {lat['p99']} max {lat['max']}"


def _active_line(active: dict[str, Any]) -> str:
    cpu = active["cpu_cores"]
    errors = sum(active["errors"].values())
    return (
        f"active: {active['answers_per_second']} answers/s ({active['answered']} in "
        f"{active['seconds']:.1f} s, {active['sessions']} sessions); latency ms "
        f"{_latency_text(active['latency_ms'])}; CPU cores: replicas {cpu['replicas']} "
        f"(event loops {cpu['replicas_event_loop']}), generator {cpu['load_generator']}; "
        f"replica CPU per answer {active['replica_cpu_ms_per_answer']} ms; "
        f"load avg {active['load_average']['end']}; errors {errors}"
        + (f" {active['errors']}" if errors else "")
        + (
            f"; unexpected bot messages {active['unexpected_bot_messages']}"
            if active["unexpected_bot_messages"]
            else ""
        )
    )


def _telegram_line(telegram: dict[str, Any] | None) -> str:
    if telegram is None:
        return "Telegram comparison: not run"
    errors = sum(telegram["errors"].values())
    ratio = telegram.get("ratio")
    verdict = ""
    if ratio is not None:
        verdict = f"; answers/s web/Telegram {ratio} (target >= {telegram['ratio_target']}: " + (
            "met)" if ratio >= telegram["ratio_target"] else "missed)"
        )
    if telegram.get("cpu_per_answer_ratio") is not None:
        verdict += f", CPU per answer web/Telegram {telegram['cpu_per_answer_ratio']}"
    cpu = telegram["cpu_cores"]
    return (
        f"Telegram ({telegram['chats']} chats): {telegram['answers_per_second']} answers/s "
        f"({telegram['answered']} in {telegram['seconds']:.1f} s); latency ms "
        f"{_latency_text(telegram['latency_ms'])}; CPU cores: replicas {cpu['replicas']}, "
        f"generator (fake Bot API too) {cpu['load_generator']}; replica CPU per answer "
        f"{telegram['replica_cpu_ms_per_answer']} ms; load avg "
        f"{telegram['load_average']['end']}; errors {errors}"
        + (f" {telegram['errors']}" if errors else "")
        + verdict
    )


def _memory_lines(memory: dict[str, Any], sessions: int) -> list[str]:
    rss, target = memory["rss_mib"], memory["idle_target"]

    def joined(values: Sequence[float | None]) -> str:
        return "+".join("?" if v is None else f"{v:.1f}" for v in values)

    idle_total = memory["idle_total_above_base_mib"]
    per_target = target["per_session_kib"]
    verdict = ""
    if memory["idle_per_session_kib"] is not None:
        met = memory["idle_per_session_kib"] <= per_target
        verdict = (
            f" (target {target['sessions']} idle < {target['mib']} MiB = {IDLE_TARGET_MB:.0f} MB "
            f"above base, {per_target} KiB each: {'met' if met else 'missed'})"
        )
    lines = [
        f"memory RSS MiB: base {joined(rss['base'])}, idle {joined(rss['idle'])}, active peak "
        f"{joined(rss['active_peak'])}, after closing {joined(rss['closed'])}",
        f"  idle: {idle_total} MiB above base, {memory['idle_per_session_kib']} KiB per idle "
        f"session{verdict}",
        f"  active: {memory['active_peak_above_base_mib']} MiB above base at the peak, "
        f"{memory['active_per_session_kib']} KiB per active session; after closing all "
        f"{sessions}: still {memory['closed_above_base_mib']} MiB above base "
        f"({memory['kept_per_closed_session_kib']} KiB per conversation: what the "
        "conversations keep, and what Python does not hand back)",
    ]
    if memory["redis_used_mib"]:
        lines.append(f"  Redis used_memory MiB (shared server): {memory['redis_used_mib']}")
    return lines


def render(result: dict[str, Any]) -> str:
    s, machine = result["settings"], result["machine"]
    lines = [
        "web chat bench: N visitors, each a chat page and its WebSocket, all on 127.0.0.1",
        f"settings: {s['sessions']} sessions, warm-up {s['warmup']} s, measured {s['seconds']} s; "
        f"questions {s['questions']}, {s['repeats']}; limits raised {s['limits']}; a "
        f"question times out after {s['reply_timeout_seconds']:.0f} s",
        f"machine: {machine['cpu_count']} CPUs, Python {machine['python']}, load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end",
    ]
    for r in result["rounds"]:
        opened = r["open"]
        lines += [
            f"{r['replicas']} replica(s): {r['mode']}",
            f"  prime: {r['prime']['asked']} questions asked once in {r['prime']['seconds']} s"
            + (f", errors {r['prime']['errors']}" if r["prime"]["errors"] else ""),
            f"  open: {opened['opened']}/{opened['sessions']} sessions welcomed in "
            f"{opened['seconds']} s; page to welcome ms {_latency_text(opened['welcome_ms'])}"
            + (f"; failed {opened['failed']}" if opened["failed"] else ""),
            "  " + _active_line(r["active"]),
            *("  " + line for line in _memory_lines(r["memory"], opened["opened"])),
            f"  app log (web chat) records: {r['app_log']['records']}",
            *(f"    {problem}" for problem in r["app_log"]["top_problems"]),
            "  " + _telegram_line(r.get("telegram")),
        ]
        if r.get("telegram"):
            telegram_log = r["telegram"]["app_log"]
            lines.append(f"  app log (Telegram) records: {telegram_log['records']}")
            lines += [f"    {problem}" for problem in telegram_log["top_problems"]]
    lines.append(f"total run time {result['duration_seconds']} s")
    return "\n".join(lines)


def _raise_open_files(needed: int) -> None:
    """Room for every socket: the soft limit on open files up to the hard one if short
    (the app processes inherit it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.web_chat",
        description="Answers/s, latency and memory of N concurrent web chat sessions.",
    )
    parser.add_argument("--sessions", type=int, default=500, help="web sessions (default 500)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="of the load (default 5)")
    parser.add_argument(
        "--replicas",
        type=count_list("replica", 4),
        default=[1],
        help="replica counts, one round each (default 1); 2 or more: the local cluster",
    )
    parser.add_argument(
        "--cluster", action="store_true", help="one replica on the local cluster too"
    )
    parser.add_argument(
        "--compare-chats",
        type=int,
        default=None,
        help="Telegram chats of the comparison (default: as many as --sessions; 32 is "
        "benchmarks.bot_webhook's capacity figure)",
    )
    parser.add_argument("--no-compare", action="store_true", help="no Telegram comparison")
    parser.add_argument(
        "--no-repeats", action="store_true", help="every question unique (no answer cache)"
    )
    parser.add_argument(
        "--prime", type=int, default=None, help="eval questions per shop primed (default all)"
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="the index of the python -m bot rounds (default var/index; the cluster builds its "
        "own from knowledge/)",
    )
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds for it all")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the app logs here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    chats = args.compare_chats
    if not 1 <= args.sessions <= 5000 or (chats is not None and not 1 <= chats <= 5000):
        parser.error("--sessions and --compare-chats must be 1..5000")
    if args.seconds <= 0 or args.warmup < 0 or (args.prime is not None and args.prime < 0):
        parser.error("--seconds must be positive, --warmup and --prime not negative")
    options = Options(
        sessions=args.sessions,
        seconds=args.seconds,
        warmup=args.warmup,
        replicas=args.replicas,
        cluster=args.cluster,
        compare=not args.no_compare,
        compare_chats=args.compare_chats,
        no_repeats=args.no_repeats,
        prime=args.prime,
        index_dir=args.index_dir,
        timeout=args.timeout,
        keep_logs=args.keep_logs,
    )

    _raise_open_files(2 * (options.sessions + (options.compare_chats or options.sessions)) + 512)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    return run_and_report(
        lambda: run_bench(options, progress=None if args.json else progress),
        as_json=args.json,
        render=render,
    )


if __name__ == "__main__":
    sys.exit(main())
