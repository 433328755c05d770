"""Limits on a document, checked in one pass after parsing and before validation, so that
validation's cost is bounded: tokens (fewer without a token), definitions, selections, depth,
aliases, one operation or an `operationName`; and a budget for the one validation rule whose
work grows faster than the document (fields of the same response name are compared pairwise).

Fragments count where they are spread, and each fragment is measured once: a chain of
fragments each spreading the next twice costs its length to measure, not 2^length (as
Strawberry's own depth and alias limiters would, recursively)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    parse,
)
from graphql.validation import OverlappingFieldsCanBeMergedRule, ValidationRule
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension

from sekvens.config import Settings
from sekvens.domain.errors import ErrorCode
from sekvens.schema.extensions.refusals import refuse

#: What is validated and run in place of a refused document: nothing of it is validated.
REFUSED_DOCUMENT = parse("query Refused { __typename }")


@dataclass(frozen=True)
class Size:
    """Of a definition, its fragments spread in: selections (fields, fragment spreads,
    inline fragments), depth (fields nested, as Strawberry's QueryDepthLimiter counts: leaves
    and introspection's insides are free) and aliases."""

    selections: int = 0
    depth: int = 0
    aliases: int = 0


@dataclass(frozen=True)
class _Written:
    """A definition as written: its own size, and the fragments it spreads (repeats kept)
    with their depth there, or None inside an introspection field."""

    own: Size
    spreads: list[tuple[str, int | None]]


def _written(selection_set: SelectionSetNode) -> _Written:
    selections = depth = aliases = 0
    spreads: list[tuple[str, int | None]] = []
    stack: list[tuple[SelectionSetNode, int | None]] = [(selection_set, 0)]
    while stack:
        current, level = stack.pop()
        for selection in current.selections:
            selections += 1
            if isinstance(selection, FragmentSpreadNode):
                spreads.append((selection.name.value, level))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, level))
            elif isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is None:
                    continue
                inner = level
                if level is not None and not selection.name.value.startswith("__"):
                    inner = level + 1
                    depth = max(depth, inner)
                elif level is not None:
                    inner = None
                stack.append((selection.selection_set, inner))
    return _Written(Size(selections, depth, aliases), spreads)


def _with_spreads(written: _Written, sizes: dict[str, Size], cap: int) -> Size:
    selections, depth, aliases = written.own.selections, written.own.depth, written.own.aliases
    for name, level in written.spreads:
        spread = sizes.get(name, Size())  # unknown or cyclic: validation reports it
        selections += spread.selections
        aliases += spread.aliases
        if level is not None:
            depth = max(depth, level + spread.depth)
    return Size(min(selections, cap + 1), depth, min(aliases, cap + 1))


@dataclass(frozen=True)
class DocumentSize:
    #: Selections of all operations, fragments counted where spread (at least as written).
    selections: int
    #: Each operation's name ('anonymous' without one) and size.
    operations: list[tuple[str, Size]]


def measure(document: DocumentNode, cap: int) -> DocumentSize:
    """The document's size, in time linear in its length; counts stop growing past `cap`."""
    written: dict[str, _Written] = {}
    operations: list[tuple[str, _Written]] = []
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            written.setdefault(definition.name.value, _written(definition.selection_set))
        elif isinstance(definition, OperationDefinitionNode):
            name = definition.name.value if definition.name else "anonymous"
            operations.append((name, _written(definition.selection_set)))
    sizes: dict[str, Size] = {}
    for root in written:  # depth first without recursion, each fragment once
        path = [(root, iter(written[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread, _ in spreads:
                if spread in written and spread not in sizes and spread not in on_path:
                    path.append((spread, iter(written[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                sizes[name] = _with_spreads(written[name], sizes, cap)
    by_operation = [(name, _with_spreads(w, sizes, cap)) for name, w in operations]
    spread_out = sum(size.selections for _, size in by_operation)
    as_written = sum(w.own.selections for w in [*written.values(), *(w for _, w in operations)])
    return DocumentSize(min(cap + 1, max(spread_out, as_written)), by_operation)


def _refusal(message: str, code: ErrorCode) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code.value})


class DocumentLimits(SchemaExtension):
    """Refuses a document, after parsing and before validation: over `max_definitions`
    operations and fragments (TOO_MANY: validation costs most per definition), several
    operations without an `operationName` (OPERATION_NAME_REQUIRED), over `max_selections`
    (TOO_MANY_SELECTIONS), deeper than `max_depth` or with more than `max_aliases` aliases.
    Callers without a token may send `max_tokens_anonymous` tokens, others `max_tokens` (the
    parser stops there). Validation compares fields of the same name with `overlap_rule`
    (bounded_overlap_rule)."""

    def __init__(self, settings: Settings, overlap_rule: type[ValidationRule]):
        self.settings = settings
        self.overlap_rule = overlap_rule
        self.refusal: GraphQLError | None = None

    def on_operation(self) -> Iterator[None]:
        ec = self.execution_context
        anonymous = getattr(ec.context, "viewer_or_none", None) is None
        limits = self.settings
        ec.parse_options["max_tokens"] = (
            limits.max_tokens_anonymous if anonymous else limits.max_tokens
        )
        ec.validation_rules = tuple(
            self.overlap_rule if rule is OverlappingFieldsCanBeMergedRule else rule
            for rule in ec.validation_rules
        )
        yield

    def on_parse(self) -> Iterator[None]:
        yield
        ec = self.execution_context
        if ec.graphql_document is None:  # it failed to parse: that error answers
            return
        self.refusal = self.check(ec.graphql_document, ec._provided_operation_name)
        if self.refusal is not None:  # validate and run a stand-in (PersistedQueries does too)
            ec.graphql_document = REFUSED_DOCUMENT
            ec._provided_operation_name = None

    def on_execute(self) -> Iterator[None]:
        if self.refusal is not None:
            refuse(self, self.refusal)
        yield

    def check(self, document: DocumentNode, operation_name: str | None) -> GraphQLError | None:
        limits = self.settings
        if len(document.definitions) > limits.max_definitions:
            return _refusal(
                f"The document has more than {limits.max_definitions} operations and fragments.",
                ErrorCode.TOO_MANY,
            )
        size = measure(document, max(limits.max_selections, limits.max_aliases))
        if len(size.operations) > 1 and operation_name is None:
            return _refusal(
                "Must provide operation name if query contains multiple operations"
                " (send `operationName`).",
                ErrorCode.OPERATION_NAME_REQUIRED,
            )
        if size.selections > limits.max_selections:
            return _refusal(
                f"The document has more than {limits.max_selections} selections (fields and"
                " fragments, a fragment counted each time it is spread): ask for less.",
                ErrorCode.TOO_MANY_SELECTIONS,
            )
        aliases = sum(operation.aliases for _, operation in size.operations)
        if aliases > limits.max_aliases:
            return _refusal(
                f"{aliases} aliases found. Allowed: {limits.max_aliases}",
                ErrorCode.GRAPHQL_VALIDATION_FAILED,
            )
        for name, operation in size.operations:
            if operation.depth > limits.max_depth:
                return _refusal(
                    f"'{name}' exceeds maximum operation depth of {limits.max_depth}",
                    ErrorCode.GRAPHQL_VALIDATION_FAILED,
                )
        return None


def bounded_overlap_rule(budget: int) -> type[ValidationRule]:
    """graphql-core's OverlappingFieldsCanBeMergedRule with a budget of `budget` (graphql-core
    allows 500,000: seconds of work) for comparing fields of the same response name; over it,
    validation stops with TOO_MANY_SELECTIONS."""

    class BoundedOverlappingFields(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.rule_context.remaining_complexity_budget = budget

        def enter_selection_set(self, *args: Any) -> None:
            try:
                super().enter_selection_set(*args)
            except ValidationAbortedError:
                if self.rule_context.remaining_complexity_budget >= 0:
                    raise  # too many errors, not the budget
                raise ValidationAbortedError(
                    "The document repeats fields of the same name (directly or through"
                    f" fragments) more than can be checked (SEKVENS_MAX_FIELD_COMPARISONS,"
                    f" {budget}): remove the repeats.",
                    extensions={"code": ErrorCode.TOO_MANY_SELECTIONS.value},
                ) from None

    return BoundedOverlappingFields
