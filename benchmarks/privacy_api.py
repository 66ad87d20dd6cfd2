"""Load benchmark of the REST API and the webhook outbox: `python -m benchmarks.privacy_api`.

The backend runtime runs in this process as `python -m backend serve` runs it (REST API,
outbox worker, housekeeping), on a database of its own: by default a new PostgreSQL
database `bench_privacy_<hex>` on 127.0.0.1:5432, dropped at the end. A shop's backend is
played on loopback by C concurrent aiohttp clients creating N privacy requests on
customers' behalf (`POST /api/v1/requests`, each commits two events: created and verified)
and by a webhook receiver that verifies every signature with the `standardwebhooks`
package and notes when each webhook-id arrived.

Measured:

- live: the API and the worker together, as deployed: requests created per second (and
  the API's answer time), webhook deliveries per second from the first request to the
  last arrival, and the latency from the commit of an event (its `created_at`, stamped in
  the transaction just before the commit) to its arrival at the receiver, p50/p99;
- backlog (skip with `--no-backlog`): N more requests with the worker off (the API alone),
  then the worker alone draining the 2N deliveries: its capacity.

The clients and the receiver share this process and its event loop with the app; the CPU
figure is this whole process (PostgreSQL's own processes are not counted). The figures
describe this machine at this moment; they are printed, never asserted.

    python -m benchmarks.privacy_api [--database-url URL] [--requests 2000]
        [--concurrency 16] [--timeout 180] [--no-backlog] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from backend.api.keys import create_api_key
from backend.api.settings import ApiSettings
from backend.database import Database
from backend.models import OutboxEvent, WebhookDelivery
from backend.privacy_requests.settings import PrivacyRequestSettings, RequestRules
from backend.runtime import backend_running
from backend.webhooks.settings import WebhookSettings

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
SHOP = "webstore"
EVENTS_PER_REQUEST = 2  # privacy_request.created and privacy_request.verified
POLL_SECONDS = 0.05
BATCH_SIZE = 50
ID_CHUNK = 500  # ids per IN (...) when reading events back


class BenchError(Exception):
    """The bench cannot run or did not finish; the message says why."""


def run_and_report(
    bench: Callable[[], Coroutine[Any, Any, dict[str, Any]]],
    *,
    as_json: bool,
    render: Callable[[dict[str, Any]], str],
) -> int:
    """A bench's exit: its figures printed (one JSON object, or the table), or the
    BenchError that stopped it on stderr with status 1."""
    try:
        result = asyncio.run(bench())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if as_json else render(result))
    return 0


# ------------------------------------------------------------------------------------------
# Small measurements


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (`ordered` sorted, non-empty)."""
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _latency_ms(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"samples": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(seconds)
    return {
        "samples": len(ordered),
        "p50": round(_percentile(ordered, 0.50) * 1000, 1),
        "p99": round(_percentile(ordered, 0.99) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class _StatementCounter:
    """The SQL statements the app sends through the database's engine."""

    def __init__(self, database: Database) -> None:
        self.count = 0
        event.listen(database.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


class _ProblemCounter(logging.Handler):
    """The app's warnings and errors, counted, the first few kept."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.levels: Counter[str] = Counter()
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        if len(self.first) < 5:
            self.first.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:300])


# ------------------------------------------------------------------------------------------
# The database of the run


@contextlib.asynccontextmanager
async def _bench_database(url: str | None, server: str) -> AsyncIterator[tuple[str, str]]:
    """The URL to run on and how to describe it: `url` as given, or a new PostgreSQL
    database on `server`, dropped when the block ends."""
    if url is not None:
        yield url, "as given"
        return
    try:
        import asyncpg
    except ImportError:
        raise BenchError("asyncpg is not installed (pip install -e '.[postgres]')") from None
    name = f"bench_privacy_{secrets.token_hex(6)}"

    async def on_server(statement: str) -> None:
        connection = await asyncpg.connect(f"{server}/postgres", timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    try:
        await on_server(f'CREATE DATABASE "{name}"')
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise BenchError(
            f"PostgreSQL at {server} is not reachable ({type(exc).__name__}: {exc}); start it "
            "(compose.yaml) or pass --database-url sqlite+aiosqlite:///path/bench.sqlite3"
        ) from None
    try:
        scheme_less = server.split("://", 1)[1]
        yield f"postgresql+asyncpg://{scheme_less}/{name}", "new, dropped at the end"
    finally:
        await on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------------------
# The shop's webhook receiver


@dataclass
class _Arrival:
    at: float  # time.time() when the call arrived
    type: str
    request_id: str


@dataclass
class Receiver:
    """Verifies every call with the endpoint's secret and notes each webhook-id's first
    arrival; `expect` arms an event set once that many new ids have arrived."""

    secret: str = ""
    arrivals: dict[str, _Arrival] = field(default_factory=dict)
    duplicates: int = 0
    bad_signatures: int = 0
    _wanted: int = 0
    _seen_since: int = 0
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Under 10000: the API's form check of an endpoint URL (`CreateEndpoint.url`) takes
        # a port of at most four digits, and the OS hands out ephemeral ports above that.
        for _ in range(100):
            port = random.randrange(2000, 10000)
            try:
                await web.TCPSite(self._runner, "127.0.0.1", port).start()
            except OSError:
                continue
            self.port = port
            return
        raise BenchError("no free loopback port under 10000 for the receiver")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def expect(self, count: int) -> asyncio.Event:
        """An event set once `count` webhook-ids not seen before have arrived."""
        self._wanted, self._seen_since = count, 0
        self._done = asyncio.Event()
        if count <= 0:
            self._done.set()
        return self._done

    def lower_expectation(self, count: int) -> None:
        self._wanted = min(self._wanted, count)
        if self._seen_since >= self._wanted:
            self._done.set()

    def progress(self) -> str:
        return f"{self._seen_since} of {self._wanted} deliveries arrived"

    async def _handle(self, request: web.Request) -> web.Response:
        at = time.time()
        body = await request.read()
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=400)
        webhook_id = request.headers["webhook-id"]
        if webhook_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[webhook_id] = _Arrival(at, payload["type"], payload["data"]["request_id"])
            self._seen_since += 1
            if self._seen_since >= self._wanted:
                self._done.set()
        return web.Response(status=204)


# ------------------------------------------------------------------------------------------
# The shop's backend calling the API


@dataclass
class _Created:
    request_ids: list[str] = field(default_factory=list)
    answered_at: dict[str, float] = field(default_factory=dict)  # request id -> time.time()
    answer_seconds: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu_cores: float | None = None


async def _create_requests(
    http: aiohttp.ClientSession, base: str, key: str, count: int, concurrency: int, tag: str
) -> _Created:
    """`count` requests by `concurrency` clients in a closed loop (each sends its next as
    soon as the previous one is answered)."""
    created = _Created()
    numbers = iter(range(count))
    headers = {"Authorization": f"Bearer {key}"}

    async def client() -> None:
        for number in numbers:
            body = {"kind": "deletion", "email": f"bench-{tag}-{number}@example.org"}
            sent = time.perf_counter()
            try:
                async with http.post(f"{base}/api/v1/requests", json=body, headers=headers) as r:
                    answer = await r.read()
                    status = r.status
            except aiohttp.ClientError as exc:
                created.errors[type(exc).__name__] += 1
                continue
            if status != 201:
                created.errors[f"http_{status}"] += 1
                continue
            created.answer_seconds.append(time.perf_counter() - sent)
            request_id = json.loads(answer)["id"]
            created.request_ids.append(request_id)
            created.answered_at[request_id] = time.time()

    cpu, start = _cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    created.seconds = time.perf_counter() - start
    created.cpu_cores = round((_cpu_seconds() - cpu) / created.seconds, 2)
    return created


async def _register_endpoint(
    http: aiohttp.ClientSession, base: str, key: str, url: str
) -> tuple[str, str]:
    """The new endpoint's id and secret."""
    async with http.post(
        f"{base}/api/v1/webhook-endpoints",
        json={"url": url, "events": ["*"]},
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        answer = await response.text()
        if response.status != 201:
            raise BenchError(f"registering the endpoint: HTTP {response.status}: {answer[:300]}")
    endpoint = json.loads(answer)
    return str(endpoint["id"]), str(endpoint["secret"])


async def _commit_times(database: Database, event_ids: list[str]) -> dict[str, float]:
    times: dict[str, float] = {}
    async with database.session() as session:
        for start in range(0, len(event_ids), ID_CHUNK):
            chunk = event_ids[start : start + ID_CHUNK]
            rows = await session.exec(
                select(OutboxEvent.id, OutboxEvent.created_at).where(col(OutboxEvent.id).in_(chunk))
            )
            times.update({event_id: created.timestamp() for event_id, created in rows})
    return times


async def _delivery_statuses(database: Database, endpoint_id: str) -> dict[str, int]:
    async with database.session() as session:
        rows = await session.exec(
            select(WebhookDelivery.status).where(col(WebhookDelivery.endpoint_id) == endpoint_id)
        )
        return dict(Counter(rows))


# ------------------------------------------------------------------------------------------
# The run


def _new_ids(receiver: Receiver, before: set[str]) -> list[str]:
    return [webhook_id for webhook_id in receiver.arrivals if webhook_id not in before]


@dataclass
class Stage:
    """What the run is doing, for the message when it times out."""

    now: str = "starting"
    receiver: Receiver | None = None

    def describe(self) -> str:
        if self.receiver is None:
            return self.now
        return f"{self.now} ({self.receiver.progress()})"


async def run_bench(
    database_url: str | None,
    requests: int,
    concurrency: int,
    *,
    backlog: bool,
    stage: Stage,
    server: str = POSTGRES_SERVER,
) -> dict[str, Any]:
    began, load_start = time.perf_counter(), _load_average()
    problems = _ProblemCounter()
    logging.getLogger().addHandler(problems)
    try:
        async with _bench_database(database_url, server) as (url, origin):
            result = await _run_on(url, requests, concurrency, backlog=backlog, stage=stage)
    finally:
        logging.getLogger().removeHandler(problems)
    parsed = make_url(url)
    result["settings"].update(
        database=f"{parsed.get_backend_name()} {parsed.render_as_string(hide_password=True)} "
        f"({origin})"
    )
    result["machine"] = {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_start": load_start,
        "load_average_end": _load_average(),
    }
    result["app_log"] = {"records": dict(problems.levels), "first_problems": problems.first}
    result["duration_seconds"] = round(time.perf_counter() - began, 1)
    return result


async def _run_on(
    url: str, requests: int, concurrency: int, *, backlog: bool, stage: Stage
) -> dict[str, Any]:
    database = Database(url)
    rules = PrivacyRequestSettings().rules(secrets.token_bytes(32))
    webhook_settings = WebhookSettings(
        allow_private_targets=True, poll_seconds=POLL_SECONDS, batch_size=BATCH_SIZE
    )
    api_settings = ApiSettings(port=0)
    receiver = Receiver()
    stage.receiver = receiver
    result: dict[str, Any] = {
        "bench": "privacy_api",
        "settings": {
            "requests": requests,
            "concurrency": concurrency,
            "worker_poll_seconds": POLL_SECONDS,
            "worker_batch_size": BATCH_SIZE,
            "events_per_request": EVENTS_PER_REQUEST,
            "where": "API, worker, clients and receiver in this process, on 127.0.0.1",
        },
    }
    try:
        stage.now = "migrating the database"
        await database.migrate()
        async with database.session() as session:
            _, key = await create_api_key(session, SHOP, label="benchmarks.privacy_api")
        await receiver.start()
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency + 4)
        ) as http:
            # Live: everything running, as `python -m backend serve` runs it.
            async with backend_running(
                database, rules, api_settings=api_settings, webhook_settings=webhook_settings
            ) as runtime:
                base = f"http://127.0.0.1:{runtime.port}"
                endpoint_id, receiver.secret = await _register_endpoint(
                    http, base, key, receiver.url
                )
                stage.now = "live: requests through the API"
                arrived = receiver.expect(EVENTS_PER_REQUEST * requests)
                start, cpu = time.time(), _cpu_seconds()
                created = await _create_requests(http, base, key, requests, concurrency, "live")
                # A request the API refused made no events.
                receiver.lower_expectation(EVENTS_PER_REQUEST * len(created.request_ids))
                stage.now = "live: the last deliveries"
                await arrived.wait()
                end = time.time()
                live_cpu = round((_cpu_seconds() - cpu) / (end - start), 2)
            live_ids = list(receiver.arrivals)
            result["live"] = await _live_figures(
                database, receiver, created, live_ids, start, end, live_cpu
            )
            if backlog:
                result["backlog"] = await _backlog(
                    database,
                    rules,
                    api_settings,
                    webhook_settings,
                    http,
                    key,
                    receiver,
                    requests,
                    concurrency,
                    stage,
                )
        result["deliveries_in_database"] = await _delivery_statuses(database, endpoint_id)
        result["receiver"] = {
            "bad_signatures": receiver.bad_signatures,
            "duplicates": receiver.duplicates,
        }
    finally:
        await receiver.stop()
        await database.dispose()
    return result


async def _live_figures(
    database: Database,
    receiver: Receiver,
    created: _Created,
    ids: list[str],
    start: float,
    end: float,
    cpu_cores: float,
) -> dict[str, Any]:
    committed = await _commit_times(database, ids)
    commit_to_arrival = [
        receiver.arrivals[event_id].at - committed[event_id]
        for event_id in ids
        if event_id in committed
    ]
    answer_to_arrival = [
        receiver.arrivals[event_id].at - created.answered_at[receiver.arrivals[event_id].request_id]
        for event_id in ids
        if receiver.arrivals[event_id].request_id in created.answered_at
    ]
    last_arrival = max((receiver.arrivals[i].at for i in ids), default=end)
    delivery_seconds = last_arrival - start
    return {
        "requests": {
            "count": len(created.request_ids),
            "seconds": round(created.seconds, 3),
            "per_second": round(len(created.request_ids) / created.seconds, 1),
            "answer_ms": _latency_ms(created.answer_seconds),
            "errors": dict(created.errors),
        },
        "deliveries": {
            "count": len(ids),
            "seconds": round(delivery_seconds, 3),
            "per_second": round(len(ids) / delivery_seconds, 1),
            "note": "from the first request sent to the last delivery arrived",
        },
        "commit_to_arrival_ms": _latency_ms(commit_to_arrival),
        "answer_to_arrival_ms": _latency_ms(answer_to_arrival),
        "cpu_cores": cpu_cores,
    }


async def _backlog(
    database: Database,
    rules: RequestRules,
    api_settings: ApiSettings,
    webhook_settings: WebhookSettings,
    http: aiohttp.ClientSession,
    key: str,
    receiver: Receiver,
    requests: int,
    concurrency: int,
    stage: Stage,
) -> dict[str, Any]:
    """N requests with no worker running, then the worker alone draining them."""
    statements = _StatementCounter(database)
    async with backend_running(
        database,
        rules,
        api_settings=api_settings,
        webhook_settings=webhook_settings,
        deliver_webhooks=False,
        housekeeping=False,
    ) as runtime:
        base = f"http://127.0.0.1:{runtime.port}"
        stage.now = "backlog: requests through the API, no worker"
        counted = statements.count
        created = await _create_requests(http, base, key, requests, concurrency, "backlog")
        api_statements = statements.count - counted
    before = set(receiver.arrivals)
    arrived = receiver.expect(EVENTS_PER_REQUEST * len(created.request_ids))
    stage.now = "backlog: the worker alone draining it"
    start, cpu, counted = time.perf_counter(), _cpu_seconds(), statements.count
    async with backend_running(
        database,
        rules,
        webhook_settings=webhook_settings,
        serve_api=False,
        housekeeping=False,
    ):
        await arrived.wait()
        seconds = time.perf_counter() - start
        cpu_cores = round((_cpu_seconds() - cpu) / seconds, 2)
        worker_statements = statements.count - counted
    drained = len(_new_ids(receiver, before))
    return {
        "requests_api_alone": {
            "count": len(created.request_ids),
            "seconds": round(created.seconds, 3),
            "per_second": round(len(created.request_ids) / created.seconds, 1),
            "answer_ms": _latency_ms(created.answer_seconds),
            "errors": dict(created.errors),
            "cpu_cores": created.cpu_cores,
            "sql_statements_each": round(api_statements / max(len(created.request_ids), 1), 1),
        },
        "drain_worker_alone": {
            "count": drained,
            "seconds": round(seconds, 3),
            "per_second": round(drained / seconds, 1),
            "cpu_cores": cpu_cores,
            "sql_statements_each": round(worker_statements / max(drained, 1), 1),
        },
    }


# ------------------------------------------------------------------------------------------
# Output


def _row(
    name: str,
    count: Any = None,
    seconds: Any = None,
    rate: Any = None,
    latency: dict[str, Any] | None = None,
    cores: Any = None,
    sql: Any = None,
) -> str:
    def cell(value: Any, width: int) -> str:
        return f"{'-' if value is None else value:>{width}}"

    p50 = latency["p50"] if latency else None
    p99 = latency["p99"] if latency else None
    return (
        f"{name:<32}{cell(count, 7)}{cell(seconds, 9)}{cell(rate, 9)}"
        f"{cell(p50, 9)}{cell(p99, 9)}{cell(cores, 7)}{cell(sql, 7)}"
    )


def render(result: dict[str, Any]) -> str:
    s, machine, live = result["settings"], result["machine"], result["live"]
    requests, deliveries = live["requests"], live["deliveries"]
    lines = [
        f"privacy API bench: {s['requests']} requests by {s['concurrency']} concurrent clients "
        f"(each makes {s['events_per_request']} webhook events); worker poll "
        f"{s['worker_poll_seconds']} s, batch {s['worker_batch_size']}; {s['where']}",
        f"database: {s['database']}",
        f"machine: {machine['cpu_count']} CPUs, Python {machine['python']}, load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end",
        "",
        _row("", "count", "seconds", "per s", {"p50": "p50 ms", "p99": "p99 ms"}, "cores", "SQL"),
        _row(
            "live: requests via the API",
            requests["count"],
            requests["seconds"],
            requests["per_second"],
            requests["answer_ms"],
            live["cpu_cores"],
        ),
        _row(
            "live: webhook deliveries",
            deliveries["count"],
            deliveries["seconds"],
            deliveries["per_second"],
        ),
        _row(
            "live: commit -> arrival",
            live["commit_to_arrival_ms"]["samples"],
            latency=live["commit_to_arrival_ms"],
        ),
        _row(
            "live: API answer -> arrival",
            live["answer_to_arrival_ms"]["samples"],
            latency=live["answer_to_arrival_ms"],
        ),
    ]
    backlog = result.get("backlog")
    if backlog:
        alone, drain = backlog["requests_api_alone"], backlog["drain_worker_alone"]
        lines += [
            _row(
                "backlog: requests, API alone",
                alone["count"],
                alone["seconds"],
                alone["per_second"],
                alone["answer_ms"],
                alone["cpu_cores"],
                alone["sql_statements_each"],
            ),
            _row(
                "backlog: drain, worker alone",
                drain["count"],
                drain["seconds"],
                drain["per_second"],
                cores=drain["cpu_cores"],
                sql=drain["sql_statements_each"],
            ),
        ]
    errors = {**live["requests"]["errors"]}
    if backlog:
        for name, count in backlog["requests_api_alone"]["errors"].items():
            errors[name] = errors.get(name, 0) + count
    lines += [
        "",
        "p50/p99 of requests: the API's answer time as the client saw it; cores: CPU of this "
        "whole process (app, clients, receiver) per second of wall time; SQL: statements "
        "the app sent per request or per delivery",
        f"API errors: {errors or 'none'}; receiver: {result['receiver']}; deliveries in the "
        f"database: {result['deliveries_in_database']}",
        f"app log warnings/errors: {result['app_log']['records'] or 'none'}",
    ]
    lines += [f"  {problem}" for problem in result["app_log"]["first_problems"]]
    lines.append(f"total run time {result['duration_seconds']} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.privacy_api",
        description="Throughput and latency of the REST API and the webhook outbox, against "
        "a signature-checking receiver on loopback.",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="run on this database (e.g. sqlite+aiosqlite:///bench.sqlite3); default: a new "
        f"PostgreSQL database on {POSTGRES_SERVER}, dropped at the end",
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per phase (default 2000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="concurrent API clients (default 16)"
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="give up after this many seconds (default 180)"
    )
    parser.add_argument(
        "--no-backlog", action="store_true", help="skip the API-alone and worker-alone phase"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000:
        parser.error("--requests must be between 1 and 100000")
    if not 1 <= args.concurrency <= 1000:
        parser.error("--concurrency must be between 1 and 1000")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")

    stage = Stage()

    async def bounded() -> dict[str, Any]:
        try:
            async with asyncio.timeout(args.timeout):
                return await run_bench(
                    args.database_url,
                    args.requests,
                    args.concurrency,
                    backlog=not args.no_backlog,
                    stage=stage,
                )
        except TimeoutError:
            raise BenchError(
                f"did not finish within --timeout {args.timeout:g} s; stopped at {stage.describe()}"
            ) from None

    return run_and_report(bounded, as_json=args.json, render=render)


if __name__ == "__main__":
    sys.exit(main())
