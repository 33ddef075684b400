"""Index refreshes started through the API or the Documents tab: one at a time, in a background thread,
with their progress and report; questions keep being answered from the current index while one runs.

The jobs are rows of a table (``index_jobs``) in the database beside the index (SQLite in ``index_dir``
for the local store, the index's schema in PostgreSQL), so every web worker and every server of the same
index reports any job, and a second refresh is refused (409) wherever it is asked: a unique column holds
the one running job. A job whose process died (no heartbeat for :data:`STALE_S`) is marked failed by the
next start.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hdf_assistant.assistant import Assistant
from hdf_assistant.config import Settings
from hdf_assistant.errors import HdfError
from hdf_assistant.web.conversations import server_database

log = logging.getLogger(__name__)

#: a running job not heard of for this long is taken as dead (its process stopped)
STALE_S = 120.0
#: how often a running job says it is alive, and writes its progress at most
HEARTBEAT_S = 10.0
PROGRESS_S = 0.5


@dataclass
class IndexJob:
    id: str
    full: bool
    status: str = "running"  # running, done, failed
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    stage: str = "scanning"
    done: int = 0
    total: int = 0
    report: dict[str, Any] | None = None
    error: str | None = None
    #: the process running it ("host:pid")
    worker: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.id, "status": self.status, "full": self.full, "started_at": self.started_at,
                "finished_at": self.finished_at, "progress": {"stage": self.stage, "done": self.done,
                                                              "total": self.total},
                "report": self.report, "error": self.error, "worker": self.worker}


class JobRunning(HdfError):
    """A refresh is already running; ``job`` is its id."""

    def __init__(self, job: str) -> None:
        super().__init__(f"an index refresh is already running (job {job}); follow it at /api/v1/index/{job}")
        self.job = job


class JobTable:
    """The ``index_jobs`` table (SQLAlchemy Core, SQLite or PostgreSQL)."""

    def __init__(self, engine: Any, schema: str | None = None) -> None:
        import sqlalchemy as sa

        self._sa = sa
        self.engine = engine
        metadata = sa.MetaData(schema=schema)
        self.table = sa.Table(
            "index_jobs", metadata,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("status", sa.String(16), nullable=False, index=True),
            sa.Column("full_rebuild", sa.Boolean, nullable=False),
            sa.Column("started_at", sa.Float, nullable=False),
            sa.Column("finished_at", sa.Float),
            sa.Column("stage", sa.String(32), nullable=False),
            sa.Column("done", sa.Integer, nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
            sa.Column("report", sa.Text),
            sa.Column("error", sa.Text),
            sa.Column("worker", sa.String(200), nullable=False),
            sa.Column("heartbeat", sa.Float, nullable=False),
            #: 1 for the running job, NULL otherwise: unique, so two refreshes can never both run
            sa.Column("running_slot", sa.Integer, unique=True),
        )
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":  # servers starting together: one creates the table
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock(hashtext('hdf-assistant:jobs:{schema}'))")
                if schema:
                    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            metadata.create_all(connection)

    @classmethod
    def for_settings(cls, settings: Settings) -> JobTable:
        """Beside the index, in the same database as the saved conversations."""
        return cls(*server_database(settings))

    def _job(self, row: Any) -> IndexJob:
        return IndexJob(row.id, bool(row.full_rebuild), row.status, row.started_at, row.finished_at, row.stage,
                        row.done, row.total, json.loads(row.report) if row.report else None, row.error, row.worker)

    def insert_running(self, job: IndexJob) -> bool:
        """Record ``job`` as the running one; False when another runs."""
        t = self.table
        try:
            with self.engine.begin() as connection:
                connection.execute(t.insert().values(
                    id=job.id, status="running", full_rebuild=job.full, started_at=job.started_at, stage=job.stage,
                    done=0, total=0, worker=job.worker, heartbeat=time.time(), running_slot=1))
        except self._sa.exc.IntegrityError:
            return False
        return True

    def fail_stale(self) -> None:
        """Mark failed the running jobs whose process stopped saying it is alive."""
        t = self.table
        now = time.time()
        with self.engine.begin() as connection:
            connection.execute(t.update().where(t.c.status == "running", t.c.heartbeat < now - STALE_S).values(
                status="failed", finished_at=now, running_slot=None,
                error="the process running this refresh stopped (no sign of life); start it again"))

    def update(self, job_id: str, **values: Any) -> None:
        t = self.table
        if "report" in values and values["report"] is not None:
            values["report"] = json.dumps(values["report"], ensure_ascii=False)
        with self.engine.begin() as connection:
            connection.execute(t.update().where(t.c.id == job_id).values(heartbeat=time.time(), **values))

    def get(self, job_id: str) -> IndexJob | None:
        t = self.table
        with self.engine.connect() as connection:
            row = connection.execute(t.select().where(t.c.id == job_id)).first()
        return self._job(row) if row is not None else None

    def running(self) -> IndexJob | None:
        t = self.table
        with self.engine.connect() as connection:
            row = connection.execute(t.select().where(t.c.running_slot == 1)).first()
        return self._job(row) if row is not None else None

    def counts(self) -> dict[str, int]:
        t = self.table
        with self.engine.connect() as connection:
            rows = connection.execute(self._sa.select(t.c.status, self._sa.func.count()).group_by(t.c.status)).all()
        return {"running": 0, "done": 0, "failed": 0} | {status: int(n) for status, n in rows}

    def trim(self, keep: int) -> None:
        """Forget all but the ``keep`` most recent finished jobs."""
        t = self.table
        with self.engine.begin() as connection:
            old = connection.execute(self._sa.select(t.c.id).where(t.c.status != "running")
                                     .order_by(t.c.started_at.desc()).offset(keep)).scalars().all()
            if old:
                connection.execute(t.delete().where(t.c.id.in_(old)))


class IndexJobs:
    """The refreshes of one index, as seen by every process that serves it."""

    def __init__(self, assistant: Assistant, table: JobTable | None = None, keep: int = 50,
                 on_finished: Callable[[IndexJob], None] | None = None) -> None:
        self._assistant = assistant
        self._table = table or JobTable.for_settings(assistant.settings)
        self._keep = keep
        self._on_finished = on_finished
        self._worker = f"{socket.gethostname()}:{os.getpid()}"

    def counts(self) -> dict[str, int]:
        """Jobs per state (running, done, failed), of those kept."""
        return self._table.counts()

    def running(self) -> IndexJob | None:
        return self._table.running()

    def get(self, job_id: str) -> IndexJob | None:
        return self._table.get(job_id)

    def _claim(self, full: bool) -> IndexJob:
        self._table.fail_stale()
        job = IndexJob(uuid.uuid4().hex[:12], full, worker=self._worker)
        if not self._table.insert_running(job):
            current = self._table.running()
            raise JobRunning(current.id if current else "?")
        self._table.trim(self._keep)
        return job

    def start(self, full: bool = False) -> IndexJob:
        """Start a refresh in the background; raises :class:`JobRunning` when one is running anywhere."""
        job = self._claim(full)
        threading.Thread(target=self._run, args=(job,), daemon=True, name=f"index-job-{job.id}").start()
        return job

    def run_here(self, full: bool = False) -> IndexJob:
        """Refresh in this thread (the Documents tab, whose progress bars follow it), as a job every
        process sees; raises :class:`JobRunning` when one is running anywhere."""
        job = self._claim(full)
        self._run(job, bars=True)
        return job

    def _run(self, job: IndexJob, bars: bool = False) -> None:
        finished = threading.Event()
        last = {"at": 0.0}

        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.done, job.total = stage, done, total
            now = time.monotonic()
            if now - last["at"] >= PROGRESS_S or done == total:
                last["at"] = now
                self._table.update(job.id, stage=stage, done=done, total=total)

        def heartbeat() -> None:  # alive even while a long step says nothing (a large commit)
            while not finished.wait(HEARTBEAT_S):
                self._table.update(job.id)

        threading.Thread(target=heartbeat, daemon=True, name=f"index-job-{job.id}-alive").start()
        try:
            report = self._assistant.reindex(full=job.full, progress=bars, on_progress=progress)
            job.report, job.status, job.stage = report.to_dict(), "done", "done"
        except HdfError as exc:
            job.error, job.status = str(exc), "failed"
        except Exception as exc:  # reported in the job, logged with its traceback
            log.exception("event=index_job_failed job=%s", job.id)
            job.error, job.status = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            finished.set()
            job.finished_at = time.time()
            self._table.update(job.id, status=job.status, stage=job.stage, report=job.report, error=job.error,
                               finished_at=job.finished_at, running_slot=None)
            if self._on_finished is not None:
                self._on_finished(job)
