"""The query root, assembled from one class per area."""

from __future__ import annotations

import strawberry

from sekvens.resolvers.audit import AuditQueries
from sekvens.resolvers.engine import EngineQueries
from sekvens.resolvers.grid import GridQueries
from sekvens.resolvers.jobs import JobQueries
from sekvens.resolvers.preview import PreviewQueries
from sekvens.resolvers.query import CoreQueries
from sekvens.resolvers.sequences import SequenceQueries
from sekvens.resolvers.step_types import StepTypeQueries
from sekvens.resolvers.suppression import SuppressionQueries
from sekvens.resolvers.tags import TagQueries
from sekvens.resolvers.templates import TemplateQueries
from sekvens.resolvers.webhooks import WebhookQueries


@strawberry.type
class Query(
    CoreQueries,
    StepTypeQueries,
    SequenceQueries,
    TagQueries,
    TemplateQueries,
    EngineQueries,
    GridQueries,
    SuppressionQueries,
    AuditQueries,
    WebhookQueries,
    JobQueries,
    PreviewQueries,
):
    pass
