"""Ingest on a Dask cluster: the same per-task ingest and merge, run by Dask workers.

The driver discovers the evidence and plans tasks exactly as a local ingest does
(:func:`iamforensics.ingest.plan_tasks`); each task runs
:func:`iamforensics.ingest.run_task` on a worker, which stages its rows under the case's
``.staging/<run>/`` folder and quarantines under ``quarantine/``, then the date partitions
are merged by :func:`iamforensics.store.merge_partition` on the workers, and the driver
writes the manifest (:func:`iamforensics.ingest._finalize`, the same code as a local run).
The case folder must therefore be a path every worker sees (one machine, or a shared
filesystem): the case writer is local-filesystem only, ``s3://`` cases are refused.

Retries never lose or double-count records: every try of a task writes under names of
its own (staging parts carry a random suffix, the quarantine file an attempt suffix), and
the driver commits only what the *returned* result of a task lists. Whatever a try that
died left behind is never merged: its staging parts are deleted with the staging folder
and its quarantine file is removed before the merge.

Examples
--------
>>> report = ingest_dask(["data/samples/AWSLogs"], "out/case-dask", workers=2)  # doctest: +SKIP
>>> report.identity_holds  # doctest: +SKIP
True
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import readers
from .errors import CaseError, EvidenceError
from .ingest import IngestReport, _discard_run, _finalize, _progress, plan_tasks, run_task
from .sources import DEFAULT_MAX_BYTES, SourceRef, discover
from .sources_s3 import S3Options
from .store import QUARANTINE, init_case, now

#: Times Dask retries a task that raised (a worker that dies is retried by the scheduler
#: too, up to ``distributed.scheduler.allowed-failures``).
RETRIES = 2


def _absolute(ref: SourceRef) -> SourceRef:
    # Workers need not share the driver's working folder; the display name stays as
    # given, so manifests and the `source` column equal a local run's.
    if ref.kind in ("file", "zip-member", "tar") and ref.path:
        return dataclasses.replace(ref, path=os.path.abspath(ref.path))
    return ref


def dask_task(
    refs: list[SourceRef], case: str, run_id: str, task_no: int, fmt: str | None, strict: bool, max_bytes: int
) -> dict[str, Any]:
    """One try of one task on a worker: its results and the quarantine file it wrote.

    Each try gets a fresh attempt suffix, so a retry never appends to a dead try's files.
    """
    attempt = "-a" + uuid.uuid4().hex[:8]
    results = run_task(refs, case, run_id, task_no, fmt, strict, max_bytes, attempt=attempt)
    return {"results": results, "quarantine": f"{run_id}-t{task_no:06d}{attempt}.jsonl.gz"}


class _DaskPool:
    """The ``starmap`` of a multiprocessing pool, on Dask workers (for the merge step)."""

    def __init__(self, client: Any, retries: int):
        self.client = client
        self.retries = retries

    def starmap(self, fn: Callable[..., Any], args: Iterable[Sequence[Any]], chunksize: int = 1) -> list[Any]:
        args = list(args)
        if not args:
            return []
        futures = self.client.map(fn, *zip(*args, strict=True), pure=False, retries=self.retries)
        return list(self.client.gather(futures))


def _client(scheduler: str | None, workers: int) -> tuple[Any, Any]:
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    # No dashboard (it needs bokeh and opens a port); workers listen on localhost only.
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    return Client(cluster), cluster


def ingest_dask(
    evidence: Sequence[str | Path] | str | Path,
    case: str | Path,
    *,
    scheduler: str | None = None,
    client: Any = None,
    workers: int = 2,
    strict: bool = False,
    fmt: str | None = None,
    progress: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    s3: S3Options | None = None,
    retries: int = RETRIES,
) -> IngestReport:
    """Ingest evidence into a case with Dask workers; same case and report as :func:`ingest`.

    Parameters
    ----------
    evidence : paths, folders, globs, archives or ``s3://`` URLs (each worker opens its own).
    case : case folder, a path every worker can write (local or shared filesystem).
    scheduler : address of a running Dask scheduler (``tcp://host:8786``); default: a
        LocalCluster of ``workers`` processes on this machine.
    client : an existing ``dask.distributed.Client`` to use instead (left open).
    workers : worker processes of the LocalCluster.
    retries : times a task that raised is retried.

    Examples
    --------
    >>> ingest_dask("data/samples/AWSLogs", "out/case-dask").counts["written"]  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    paths = [str(evidence)] if isinstance(evidence, str | Path) else [str(e) for e in evidence]
    if not paths:
        raise EvidenceError("no evidence given")
    if str(case).startswith("s3://"):
        raise CaseError(
            f"{case}: the case writer is local-filesystem only; give a folder every worker can "
            "write (a shared filesystem), then copy it to S3 for other engines (iamforensics ddl)"
        )
    if fmt is not None:
        readers.get(fmt)
    case_existed = Path(case).exists()
    refs = [_absolute(r) for r in discover(paths, s3, exclude=[str(case)])]
    root = init_case(Path(case).absolute())
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    started = now()
    own_client = client is None
    cluster = None
    if own_client:
        client, cluster = _client(scheduler, workers)
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        tasks = plan_tasks(refs, jobs=n_workers)
        results: list[dict[str, Any]] = []
        kept_quarantine: set[str] = set()
        bar = _progress(sum(r.size for r in refs), progress)
        try:
            from dask.distributed import as_completed

            futures = [
                client.submit(
                    dask_task,
                    t,
                    str(root),
                    run_id,
                    i,
                    fmt,
                    strict,
                    max_bytes,
                    key=f"iamforensics-ingest-{run_id}-{i}",
                    retries=retries,
                    pure=False,
                )
                for i, t in enumerate(tasks)
            ]
            for fut in as_completed(futures):
                out = fut.result()
                task_results = out["results"]
                if task_results and "strict_error" in task_results[0]:
                    client.cancel(futures)
                    raise EvidenceError(task_results[0]["strict_error"])
                results.extend(task_results)
                kept_quarantine.add(out["quarantine"])
                if bar is not None:
                    bar.update(sum(r.get("size") or 0 for r in task_results))
            # Quarantine files of tries that died are not this run's output.
            for q in (root / QUARANTINE).glob(f"{run_id}-*.jsonl.gz"):
                if q.name not in kept_quarantine:
                    q.unlink(missing_ok=True)
        except BaseException:
            _discard_run(root, run_id, remove_case=not case_existed)
            raise
        finally:
            if bar is not None:
                bar.close()
        return _finalize(
            root,
            run_id,
            started,
            t0,
            paths,
            results,
            {
                "engine": "dask",
                "scheduler": scheduler or (None if cluster is None else f"LocalCluster({workers})"),
                "jobs": n_workers,
                "retries": retries,
                "strict": strict,
                "format": fmt,
                "max_bytes": max_bytes,
                **({"s3": s3.manifest()} if s3 is not None else {}),
            },
            pool=_DaskPool(client, retries),
        )
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
