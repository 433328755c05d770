"""The tag rules: names, depth, children per parent, moves, deletes, paths."""

from __future__ import annotations

import pytest

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.tags import MAX_CHILDREN, TagNode, TagTree, check_name


def codes(error: pytest.ExceptionInfo[DomainError]) -> list[tuple[ErrorCode, tuple[str, ...]]]:
    return [(p.code, p.field) for p in error.value.problems]


def tree(*nodes: tuple[int, int | None, str]) -> TagTree:
    return TagTree(TagNode(*n) for n in nodes)


# 1 Region / 2 Nordics / 3 Norway / 4 Oslo; 5 Product; 6 Region/Europe
SAMPLE = tree(
    (1, None, "Region"),
    (2, 1, "Nordics"),
    (3, 2, "Norway"),
    (4, 3, "Oslo"),
    (5, None, "Product"),
    (6, 1, "Europe"),
)


def test_names_are_trimmed() -> None:
    assert check_name("  Outbound ") == "Outbound"
    assert check_name("x" * 100) == "x" * 100


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", ErrorCode.REQUIRED),
        ("   ", ErrorCode.REQUIRED),
        ("a/b", ErrorCode.TAG_NAME_INVALID),
        ("/", ErrorCode.TAG_NAME_INVALID),
        ("line\nbreak", ErrorCode.TAG_NAME_INVALID),
        ("x" * 101, ErrorCode.TOO_LONG),
    ],
)
def test_bad_names(name: str, code: ErrorCode) -> None:
    with pytest.raises(DomainError) as e:
        check_name(name)
    assert codes(e) == [(code, ("name",))]


def test_paths_depths_and_order() -> None:
    assert SAMPLE.path(4) == "Region/Nordics/Norway/Oslo"
    assert [SAMPLE.depth(i) for i in (1, 2, 3, 4, 5)] == [1, 2, 3, 4, 1]
    assert [n.name for n in SAMPLE.ordered()] == [
        "Product",
        "Region",
        "Europe",
        "Nordics",
        "Norway",
        "Oslo",
    ]
    assert sorted(SAMPLE.descendants(1)) == [2, 3, 4, 6]
    assert SAMPLE.height(1) == 4
    assert SAMPLE.height(5) == 1


def test_ordered_puts_a_parent_before_similar_names() -> None:
    t = tree((1, None, "A"), (2, None, "A B"), (3, 1, "C"), (4, None, "a0"))
    assert [t.path(n.id) for n in t.ordered()] == ["A", "A/C", "A B", "a0"]
    assert sorted([1, 2, 3, 4], key=t.path_key) == [1, 3, 2, 4]


def test_create_on_each_level() -> None:
    assert SAMPLE.check_create(" Sweden ", 2) == "Sweden"
    assert SAMPLE.check_create("Inbound", None) == "Inbound"


def test_fifth_level_is_refused() -> None:
    with pytest.raises(DomainError) as e:
        SAMPLE.check_create("Centrum", 4)
    assert codes(e) == [(ErrorCode.TAG_TOO_DEEP, ("parentId",))]


def test_sibling_names_differ_ignoring_case() -> None:
    with pytest.raises(DomainError) as e:
        SAMPLE.check_create("nordics", 1)
    assert codes(e) == [(ErrorCode.DUPLICATE, ("name",))]
    with pytest.raises(DomainError):
        SAMPLE.check_create("PRODUCT", None)
    # The same name elsewhere in the tree is fine.
    assert SAMPLE.check_create("Nordics", 5) == "Nordics"


def test_unknown_parent() -> None:
    with pytest.raises(DomainError) as e:
        SAMPLE.check_create("X", 42)
    assert codes(e) == [(ErrorCode.NOT_FOUND, ("parentId",))]


def test_at_most_100_children_below_the_first_level() -> None:
    full = tree((1, None, "Parent"), *[(100 + i, 1, f"c{i}") for i in range(MAX_CHILDREN)])
    with pytest.raises(DomainError) as e:
        full.check_create("one more", 1)
    assert codes(e) == [(ErrorCode.TAG_TOO_MANY_CHILDREN, ("parentId",))]
    # The first level has no such limit.
    roots = tree(*[(i, None, f"r{i}") for i in range(1, MAX_CHILDREN + 5)])
    assert roots.check_create("another root", None) == "another root"
    # Renaming within a full parent is not adding.
    assert full.check_update(100, "renamed", None, False) == ("renamed", 1)


def test_rename() -> None:
    assert SAMPLE.check_update(2, "  Scandinavia ", None, False) == ("Scandinavia", 1)
    assert SAMPLE.check_update(2, "NORDICS", None, False) == ("NORDICS", 1)
    with pytest.raises(DomainError) as e:
        SAMPLE.check_update(2, "europe", None, False)
    assert codes(e) == [(ErrorCode.DUPLICATE, ("name",))]
    with pytest.raises(DomainError) as e:
        SAMPLE.check_update(2, "a/b", None, False)
    assert codes(e) == [(ErrorCode.TAG_NAME_INVALID, ("name",))]


def test_move_takes_the_subtree_along() -> None:
    assert SAMPLE.check_update(3, None, 5, True) == ("Norway", 5)  # Product/Norway/Oslo
    assert SAMPLE.check_update(2, None, None, True) == ("Nordics", None)  # to the first level


def test_move_depth_counts_the_subtree() -> None:
    assert SAMPLE.check_update(3, None, 6, True) == ("Norway", 6)  # Region/Europe/Norway/Oslo
    deeper = tree(*[(n.id, n.parent_id, n.name) for n in SAMPLE.nodes.values()], (7, 6, "West"))
    with pytest.raises(DomainError) as e:
        deeper.check_update(3, None, 7, True)  # Oslo would land on level 5
    assert codes(e) == [(ErrorCode.TAG_TOO_DEEP, ("parentId",))]


def test_move_under_itself_or_a_descendant_is_refused() -> None:
    for target in (2, 3, 4):
        with pytest.raises(DomainError) as e:
            SAMPLE.check_update(2, None, target, True)
        assert codes(e) == [(ErrorCode.INVALID_VALUE, ("parentId",))]


def test_move_and_rename_together_check_the_new_place() -> None:
    t = tree((1, None, "A"), (2, None, "B"), (3, 1, "X"), (4, 2, "X"))
    with pytest.raises(DomainError):
        t.check_update(3, None, 2, True)
    assert t.check_update(3, "Y", 2, True) == ("Y", 2)


def test_delete_lifts_children() -> None:
    assert sorted(SAMPLE.check_delete(2)) == [3]
    assert sorted(SAMPLE.check_delete(1)) == [2, 6]
    assert SAMPLE.check_delete(5) == []


def test_delete_refuses_a_name_clash_at_the_new_level() -> None:
    t = tree((1, None, "Europe"), (2, None, "Region"), (3, 2, "Europe"))
    with pytest.raises(DomainError) as e:
        t.check_delete(2)
    assert codes(e) == [(ErrorCode.DUPLICATE, ("tagId",))]


def test_delete_refuses_to_overfill_the_parent() -> None:
    t = tree(
        (1, None, "P"),
        *[(100 + i, 1, f"c{i}") for i in range(MAX_CHILDREN - 1)],
        (2, 1, "middle"),
        (3, 2, "a"),
        (4, 2, "b"),
    )
    with pytest.raises(DomainError) as e:
        t.check_delete(2)
    assert codes(e) == [(ErrorCode.TAG_TOO_MANY_CHILDREN, ("tagId",))]
    assert sorted(t.check_delete(3)) == []
