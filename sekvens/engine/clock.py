"""The engine's clock. Tests hand in one they move forward instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
