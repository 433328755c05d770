"""Field conditions in GraphQL: a condition on one field of a record, and its input."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from sekvens.domain.field_conditions import FieldCondition as Condition
from sekvens.schema.enums import FieldOperator


@strawberry.type(description="A condition on one field of a record.")
class FieldCondition:
    field: str
    operator: FieldOperator
    value: JSON | None = strawberry.field(
        description="What the field is compared with: a list for IN, null for IS_SET and"
        " IS_NOT_SET."
    )

    @classmethod
    def of(cls, condition: Condition) -> FieldCondition:
        return cls(field=condition.field, operator=condition.operator, value=condition.value)


@strawberry.input(description="A condition on one field of a record type.")
class FieldConditionInput:
    field: str
    operator: FieldOperator
    value: JSON | None = strawberry.field(
        default=None,
        description="A value of the field's type; a list of them for IN; none for IS_SET and"
        " IS_NOT_SET.",
    )

    def condition(self) -> Condition:
        return Condition(self.field, FieldOperator(self.operator), self.value)
