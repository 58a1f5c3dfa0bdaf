"""Run many independent solves: local processes by default, a Dask cluster on request.

``map_tasks(fn, items, jobs=N)`` uses a process pool; ``scheduler="tcp://host:8786"``
submits to a running ``dask.distributed`` scheduler instead (its workers need remech
installed). Results come back in the order of ``items``; ``on_done(k, result)`` is called
as each finishes (for progress bars).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed

#: --jobs beyond this many processes is refused (each holds a model and a HiGHS instance)
MAX_JOBS_PER_CORE = 4


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def max_jobs() -> int:
    return max(64, MAX_JOBS_PER_CORE * default_jobs())


HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM in the main thread (delivered when the block ends), so that
    Ctrl-C cannot leave a half-done step (a folder swap, a process pool's start)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent (which stops them) and die quietly on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)  # forked while the parent held them


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and terminate the workers (Ctrl-C in the parent)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(5)
    # let the pool's manager thread finish now: at interpreter exit, concurrent.futures
    # would otherwise wake it through a pipe it may be closing (EBADF traceback)
    if manager is not None:
        manager.join(5)


def map_tasks(fn: Callable, items: Iterable, jobs: int | None = None,
              scheduler: str | None = None,
              on_done: Callable[[int, object], None] | None = None) -> list:
    items = list(items)
    results: list = [None] * len(items)
    if not items:
        return results
    if scheduler:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed

        with Client(scheduler) as client:
            futures = client.map(fn, items, pure=False)
            index = {f.key: k for k, f in enumerate(futures)}
            try:
                for fut in dask_completed(futures):
                    k = index[fut.key]
                    results[k] = fut.result()
                    if on_done:
                        on_done(k, results[k])
            except KeyboardInterrupt:
                client.cancel(futures)
                raise
        return results
    jobs = jobs or default_jobs()
    if jobs == 1:
        for k, item in enumerate(items):
            results[k] = fn(item)
            if on_done:
                on_done(k, results[k])
        return results
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init)
    try:
        with signals_held():  # the pool starts its processes and thread on submit
            futures = {pool.submit(fn, item): k for k, item in enumerate(items)}
        for fut in as_completed(futures):
            k = futures[fut]
            results[k] = fut.result()
            if on_done:
                on_done(k, results[k])
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)
    return results
