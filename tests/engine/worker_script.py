"""A worker process for the exactly-once tests: `python -m tests.engine.worker_script URL [DELAY]`.

It runs the engine until nothing is due, optionally slowed down per connection so a test
can kill it in the middle of a batch.
"""

from __future__ import annotations

import asyncio
import sys

from sekvens.config import Settings
from sekvens.engine.runner import Runner
from sekvens.engine.worker import Engine
from sekvens.plugins.registry import Registry
from sekvens.storage.db import Database


def main() -> None:
    url = sys.argv[1]
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    if delay:
        advance = Runner.advance

        async def slow(self, batch_, conn):  # type: ignore[no-untyped-def]
            await asyncio.sleep(delay)
            await advance(self, batch_, conn)

        Runner.advance = slow  # type: ignore[method-assign]

    async def run() -> None:
        db = Database(Settings(database_url=url))
        engine = Engine(db, Registry.from_entry_points(), batch_size=batch)
        print("started", flush=True)
        done = await engine.run_until_idle()
        print(f"processed {done}", flush=True)
        await db.dispose()

    asyncio.run(run())


if __name__ == "__main__":
    main()
