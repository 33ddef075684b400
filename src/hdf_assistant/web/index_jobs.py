"""Index refreshes started through the API: one at a time, in a background
thread, with their progress and report; questions keep being answered from
the current index while one runs."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hdf_assistant.assistant import Assistant
from hdf_assistant.errors import HdfError

log = logging.getLogger(__name__)


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

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.id, "status": self.status, "full": self.full, "started_at": self.started_at,
                "finished_at": self.finished_at, "progress": {"stage": self.stage, "done": self.done,
                                                              "total": self.total},
                "report": self.report, "error": self.error}


class JobRunning(HdfError):
    """A refresh is already running; ``job`` is its id."""

    def __init__(self, job: str) -> None:
        super().__init__(f"an index refresh is already running (job {job}); follow it at /api/v1/index/{job}")
        self.job = job


class IndexJobs:
    """The refreshes of one assistant's index."""

    def __init__(self, assistant: Assistant, keep: int = 20,
                 on_finished: Callable[[IndexJob], None] | None = None) -> None:
        self._assistant = assistant
        self._on_finished = on_finished
        self._jobs: dict[str, IndexJob] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        """Jobs per state (running, done, failed), of those kept."""
        found = {"running": 0, "done": 0, "failed": 0}
        for job in list(self._jobs.values()):
            found[job.status] = found.get(job.status, 0) + 1
        return found

    def running(self) -> IndexJob | None:
        return next((j for j in self._jobs.values() if j.status == "running"), None)

    def get(self, job_id: str) -> IndexJob | None:
        return self._jobs.get(job_id)

    def start(self, full: bool = False) -> IndexJob:
        """Start a refresh; raises :class:`JobRunning` when one is running here."""
        with self._lock:
            current = self.running()
            if current is not None:
                raise JobRunning(current.id)
            job = IndexJob(uuid.uuid4().hex[:12], full)
            self._jobs[job.id] = job
            for old in list(self._jobs)[: max(0, len(self._jobs) - self._keep)]:
                if self._jobs[old].status != "running":
                    del self._jobs[old]
        threading.Thread(target=self._run, args=(job,), daemon=True, name=f"index-job-{job.id}").start()
        return job

    def _run(self, job: IndexJob) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.done, job.total = stage, done, total

        try:
            report = self._assistant.reindex(full=job.full, on_progress=progress)
            job.report, job.status, job.stage = report.to_dict(), "done", "done"
        except HdfError as exc:
            job.error, job.status = str(exc), "failed"
        except Exception as exc:  # reported in the job, logged with its traceback
            log.exception("event=index_job_failed job=%s", job.id)
            job.error, job.status = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            job.finished_at = time.time()
            if self._on_finished is not None:
                self._on_finished(job)
