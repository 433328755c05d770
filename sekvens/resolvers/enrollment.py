"""setEnrollmentRules: a sequence's automatic enrollment rules (segments)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.authoring.enrollment_rules import RuleRequest, set_enrollment_rules
from sekvens.domain.enrollment import EnrollmentRule, RuleFilter, new_rule_key
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.enrollment import EnrollmentRuleInput, SetEnrollmentRulesInput
from sekvens.schema.relay import decode_id
from sekvens.schema.sequences import Sequence, SequencePayload


def _request(i: int, r: EnrollmentRuleInput) -> RuleRequest:
    f = r.filter
    at = ["rules", str(i), "filter"]
    key = new_rule_key() if r.key is None else r.key.strip()
    return RuleRequest(
        EnrollmentRule(
            key=key,
            name=(r.name or "").strip() or key,
            filter=RuleFilter(
                owner_user_id=decode_id(f.owner_user_id, "User", [*at, "ownerUserId"])
                if f and f.owner_user_id
                else None,
                owner_team_id=decode_id(f.owner_team_id, "Team", [*at, "ownerTeamId"])
                if f and f.owner_team_id
                else None,
                stage=f.stage if f else None,
                search=f.search if f else None,
                external_ids=tuple(f.external_ids) if f and f.external_ids is not None else None,
            ),
            field_conditions=tuple(c.condition() for c in r.field_conditions),
            allow_reenrollment=r.allow_reenrollment,
            reenroll_after_days=r.reenroll_after_days,
        ),
        record_type=f.record_type if f else None,
        is_active=f.is_active if f else None,
    )


@strawberry.type
class EnrollmentMutations:
    @strawberry.mutation(
        description="Replace a sequence's enrollment rules (its editors; also while active:"
        " they apply to record changes from then on). docs/enrollment.md."
    )
    async def set_enrollment_rules(
        self, info: Info, input: SetEnrollmentRulesInput
    ) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            pk = decode_id(input.sequence_id, "Sequence", ["sequenceId"])
            requests = [_request(i, r) for i, r in enumerate(input.rules)]
            seq = await set_enrollment_rules(ctx.session, viewer, pk, requests)
            return {"sequence": Sequence.from_row(seq)}

        return await mutate(info, SequencePayload, run)
