"""`sekvens worker`: engine workers as processes of their own.

One worker runs in the calling process. More run as child processes (PostgreSQL only: they
claim batches with `FOR UPDATE SKIP LOCKED`, so they never share work), watched by the
calling process: SIGTERM or SIGINT to it stops every child gracefully (each finishes the
batch it holds and exits); a child that dies unexpectedly stops the others too, and the
command exits non-zero so the process supervisor (systemd, Kubernetes...) restarts it.
Nothing waits for the dead child: what it had claimed (a batch of connections, a delivery
round) was tied to its database session and is free as soon as the session ends.

With `once`, each worker runs until nothing is due now, then exits: for tools and tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import signal
from multiprocessing.connection import wait as wait_for_exit
from typing import Any

from sekvens.config import Settings
from sekvens.engine.worker import build_engine
from sekvens.storage import migrate
from sekvens.storage.db import Database

log = logging.getLogger("sekvens.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: How long the supervisor waits for children to finish their batch after a stop.
STOP_GRACE_SECONDS = 60.0


class SingleWriter(ValueError):
    """More than one worker was asked for on SQLite."""


def check_concurrency(settings: Settings, concurrency: int) -> None:
    if concurrency > 1 and settings.is_sqlite:
        raise SingleWriter(
            "SQLite has a single writer, so it runs one worker: use --concurrency 1, or point "
            "SEKVENS_DATABASE_URL at PostgreSQL to run more."
        )


async def run_worker(settings: Settings, once: bool = False, name: str = "worker") -> int:
    """Run one worker until SIGTERM/SIGINT (or, with `once`, until idle); returns the work
    done (connections processed plus mail attempted)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread (tests, embedding): the caller stops us
    db = Database(settings)
    try:
        if settings.migrate_on_start:
            await migrate.upgrade(db.engine)
        engine, signer = build_engine(settings, db)
        signer.check()
        log.info("%s started (pid %s)", name, multiprocessing.current_process().pid)
        if once:
            done = 0
            while not stop.is_set():
                n = await engine.run_batch()
                done += n
                if n == 0:
                    break
            log.info("%s idle after %d", name, done)
            return done
        await engine.serve(stop)
        return 0
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await db.dispose()


def _child(settings: Settings, once: bool, index: int, log_level: str) -> None:
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    )
    asyncio.run(run_worker(settings, once, f"worker {index}"))


def supervise(settings: Settings, concurrency: int, once: bool = False) -> int:
    """Run `concurrency` worker processes until they end; returns the exit status."""
    check_concurrency(settings, concurrency)
    if settings.migrate_on_start:
        _migrate(settings)
        settings = dataclasses.replace(settings, auto_migrate=False)  # done once, here
    context = multiprocessing.get_context("spawn")  # no inherited event loop or connections
    children = [
        context.Process(
            target=_child,
            args=(settings, once, i, settings.log_level),
            name=f"sekvens-worker-{i}",
        )
        for i in range(concurrency)
    ]
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            log.info("stopping %d workers (%s)", len(children), signal.Signals(signum).name)
        stopping = True
        for child in children:
            if child.is_alive() and child.pid is not None:
                child.terminate()  # SIGTERM: finish the batch, then exit

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        for child in children:
            child.start()
        running = list(children)
        status = 0
        while running:
            wait_for_exit([c.sentinel for c in running])
            for child in [c for c in running if not c.is_alive()]:
                running.remove(child)
                child.join()
                if child.exitcode != 0:
                    status = 1
                    log.error("%s exited with status %s", child.name, child.exitcode)
                if not stopping and (child.exitcode != 0 or not once):
                    stop(signal.SIGTERM, None)  # one gone: stop all; the supervisor restarts
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for child in children:
            child.join(STOP_GRACE_SECONDS)
            if child.is_alive():
                child.kill()


def _migrate(settings: Settings) -> None:
    async def run() -> None:
        db = Database(settings)
        try:
            await migrate.upgrade(db.engine)
        finally:
            await db.dispose()

    asyncio.run(run())
