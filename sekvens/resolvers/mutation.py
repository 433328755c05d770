"""The mutation root, assembled from one class per area."""

from __future__ import annotations

import strawberry

from sekvens.resolvers.away import AwayMutations
from sekvens.resolvers.engine import EngineMutations
from sekvens.resolvers.enrollment import EnrollmentMutations
from sekvens.resolvers.grid import GridMutations
from sekvens.resolvers.jobs import JobMutations
from sekvens.resolvers.organization import OrganizationMutations
from sekvens.resolvers.record_types import RecordTypeMutations
from sekvens.resolvers.records import RecordMutations
from sekvens.resolvers.sequences import SequenceMutations
from sekvens.resolvers.sessions import SessionMutations
from sekvens.resolvers.suppression import SuppressionMutations
from sekvens.resolvers.tags import TagMutations
from sekvens.resolvers.teams import TeamMutations
from sekvens.resolvers.templates import TemplateMutations
from sekvens.resolvers.transfer import TransferMutations
from sekvens.resolvers.users import UserMutations
from sekvens.resolvers.webhooks import WebhookMutations


@strawberry.type
class Mutation(
    OrganizationMutations,
    UserMutations,
    SessionMutations,
    AwayMutations,
    TeamMutations,
    RecordTypeMutations,
    RecordMutations,
    SequenceMutations,
    EnrollmentMutations,
    TagMutations,
    TemplateMutations,
    EngineMutations,
    TransferMutations,
    GridMutations,
    SuppressionMutations,
    WebhookMutations,
    JobMutations,
):
    pass
