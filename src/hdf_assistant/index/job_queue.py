"""The job queue of distributed indexing, on the index's PostgreSQL database, through pgqueuer (the only
module importing it).

Why pgqueuer (rather than procrastinate): it runs on asyncpg, which the postgres extra already installs
for llama-index's vector store (procrastinate's workers need psycopg 3, another driver); its workers
send heartbeats and a job whose worker stopped sending them (killed, machine lost) is picked again by
another worker after ``heartbeat_timeout``; jobs are taken with ``FOR UPDATE SKIP LOCKED``, one at a time
per worker here (two at most at once: pgqueuer wants twice the batch), so a killed worker holds at most two files.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from hdf_assistant.index.postgres_db import require

log = logging.getLogger(__name__)

#: a job whose worker has not sent a heartbeat for this long is given to another worker
HEARTBEAT_TIMEOUT = timedelta(seconds=20)


def entrypoint_of(index_name: str) -> str:
    """The queue's name for the files of one index."""
    return f"hdf_index_file_{index_name}"


def _dsn(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep else url


async def _connect(url: str) -> Any:
    asyncpg = require("asyncpg")
    return await asyncpg.connect(_dsn(url))


async def _install(connection: Any) -> Any:
    pgqueuer = require("pgqueuer")
    queries = pgqueuer.Queries.from_asyncpg_connection(connection)
    await connection.execute("SELECT pg_advisory_lock(hashtext('hdf-assistant:pgqueuer'))")
    try:
        if not await queries.schema_is_installed():
            await queries.install()
    finally:
        await connection.execute("SELECT pg_advisory_unlock(hashtext('hdf-assistant:pgqueuer'))")
    return queries


def enqueue(url: str, entrypoint: str, payloads: Sequence[bytes]) -> None:
    """Put one job per payload on the queue (the queue's tables are made on first use)."""

    async def run() -> None:
        connection = await _connect(url)
        try:
            queries = await _install(connection)
            if payloads:
                await queries.enqueue([entrypoint] * len(payloads), list(payloads), [0] * len(payloads))
        finally:
            await connection.close()

    asyncio.run(run())


def work(url: str, entrypoint: str, handle: Callable[[bytes], None], stop: Callable[[], bool] | None = None) -> None:
    """Run jobs of ``entrypoint`` (two at most at once) with ``handle`` (in a thread: the event loop keeps sending
    heartbeats while a file is embedded), until ``stop()`` says so (checked every second) or forever."""
    pgqueuer = require("pgqueuer")

    async def run() -> None:
        connection = await _connect(url)
        await _install(connection)
        queuer = pgqueuer.PgQueuer(pgqueuer.AsyncpgDriver(connection))

        @queuer.entrypoint(entrypoint)
        async def one_file(job: Any) -> None:
            await asyncio.to_thread(handle, bytes(job.payload or b""))

        async def watch() -> None:
            while stop is None or not stop():
                await asyncio.sleep(1)
            queuer.shutdown.set()

        watcher = asyncio.create_task(watch())
        try:
            await queuer.run(batch_size=1, max_concurrent_tasks=2, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                             dequeue_timeout=timedelta(seconds=2))
        finally:
            watcher.cancel()
            await connection.close()

    asyncio.run(run())
