"""What every request of the API shares: settings, database, metrics, step types, engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sekvens.config import Settings
from sekvens.engine.worker import Engine
from sekvens.metrics import Metrics
from sekvens.plugins.registry import Registry
from sekvens.storage.db import Database
from sekvens.storage.tokens import AuthCache


@dataclass
class Services:
    """Built once by `create_app`; each request's `Context` reaches them as `ctx.services`."""

    settings: Settings
    db: Database
    metrics: Metrics
    registry: Registry
    engine: Engine
    #: Verified tokens (hash -> Viewer), briefly; see AuthCache.
    auth_cache: AuthCache[Any]
