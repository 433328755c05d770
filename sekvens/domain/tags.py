"""Tags: a tree of names that sorts and finds sequences (the product's rules, no I/O).

- A name is 1 to 100 characters after trimming, without '/' (it separates a path's levels)
  and without control characters. Siblings can't share a name, ignoring case.
- Tags nest at most four levels; the first level is 1.
- Below the first level, one parent holds at most 100 tags; the first level is unlimited.
- Deleting a tag lifts its children one level: they take the deleted tag's parent. It is
  refused when a lifted child would clash with a tag already at that level, or overfill it.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sekvens.domain.errors import DomainError, ErrorCode

NAME_MAX = 100
MAX_DEPTH = 4
MAX_CHILDREN = 100
SEPARATOR = "/"


def check_name(name: str, field: str = "name") -> str:
    """The trimmed name, or a refusal."""
    trimmed = name.strip()
    if not trimmed:
        raise DomainError.of(ErrorCode.REQUIRED, "A tag needs a name.", [field])
    if SEPARATOR in trimmed:
        raise DomainError.of(
            ErrorCode.TAG_NAME_INVALID,
            f"A tag name can't contain '{SEPARATOR}': it separates the levels of a tag's path."
            " Nest the tag under another tag instead.",
            [field],
        )
    if any(unicodedata.category(c) == "Cc" for c in trimmed):
        raise DomainError.of(
            ErrorCode.TAG_NAME_INVALID,
            "A tag name can't contain line breaks, tabs or other control characters.",
            [field],
        )
    if len(trimmed) > NAME_MAX:
        raise DomainError.of(
            ErrorCode.TOO_LONG, f"A tag name is at most {NAME_MAX} characters.", [field]
        )
    return trimmed


def name_key(name: str) -> str:
    """What makes two sibling names the same: case is ignored."""
    return name.strip().casefold()


@dataclass(frozen=True)
class TagNode:
    id: int
    parent_id: int | None
    name: str


class TagTree:
    """One organization's tags, with the rules for changing them.

    The `check_*` methods raise `DomainError` when a change would break a rule and say
    nothing when it is allowed; they don't change the tree.
    """

    def __init__(self, nodes: Iterable[TagNode]):
        self.nodes: dict[int, TagNode] = {n.id: n for n in nodes}
        children: dict[int | None, list[TagNode]] = defaultdict(list)
        for node in self.nodes.values():
            parent = node.parent_id if node.parent_id in self.nodes else None
            children[parent].append(node)
        for group in children.values():
            group.sort(key=lambda n: (name_key(n.name), n.name, n.id))
        self._children = dict(children)

    def __contains__(self, tag_id: object) -> bool:
        return tag_id in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, tag_id: int) -> TagNode | None:
        return self.nodes.get(tag_id)

    def children(self, parent_id: int | None) -> list[TagNode]:
        """The tags directly under `parent_id` (None: the first level), by name."""
        return list(self._children.get(parent_id, ()))

    def ancestors(self, tag_id: int) -> list[TagNode]:
        """The tag and the tags above it, the first level first."""
        chain: list[TagNode] = []
        seen: set[int] = set()
        node = self.nodes.get(tag_id)
        while node is not None and node.id not in seen:
            seen.add(node.id)
            chain.append(node)
            node = self.nodes.get(node.parent_id) if node.parent_id is not None else None
        chain.reverse()
        return chain

    def depth(self, tag_id: int) -> int:
        """1 for a first-level tag; 0 for None (above the first level)."""
        return len(self.ancestors(tag_id))

    def path(self, tag_id: int) -> str:
        return SEPARATOR.join(n.name for n in self.ancestors(tag_id))

    def path_key(self, tag_id: int) -> tuple[str, ...]:
        """Sorts tags by path, a parent before its children, ignoring case."""
        return tuple(name_key(n.name) for n in self.ancestors(tag_id))

    def descendants(self, tag_id: int) -> list[int]:
        """Every tag below `tag_id` (not itself), at any level."""
        out: list[int] = []
        stack = [c.id for c in self._children.get(tag_id, ())]
        while stack:
            current = stack.pop()
            if current in out or current == tag_id:
                continue
            out.append(current)
            stack.extend(c.id for c in self._children.get(current, ()))
        return out

    def height(self, tag_id: int) -> int:
        """How many levels the tag and its subtree span: 1 for a tag without children."""
        below = [self.height(c.id) for c in self._children.get(tag_id, ())]
        return 1 + max(below, default=0)

    def ordered(self) -> list[TagNode]:
        """Every tag, depth first: each parent followed by its subtree, siblings by name."""
        out: list[TagNode] = []

        def walk(parent: int | None) -> None:
            for node in self._children.get(parent, ()):
                out.append(node)
                walk(node.id)

        walk(None)
        return out

    # --- Rules ----------------------------------------------------------------------------

    def check_create(self, name: str, parent_id: int | None) -> str:
        """The trimmed name of a new tag under `parent_id` (None: the first level)."""
        trimmed = check_name(name)
        self._check_parent_exists(parent_id)
        self._check_place(None, trimmed, parent_id, 1)
        return trimmed

    def check_update(
        self, tag_id: int, name: str | None, parent_id: int | None, move: bool
    ) -> tuple[str, int | None]:
        """The tag's new name and parent after a rename and/or a move (`move`: to `parent_id`)."""
        node = self._node(tag_id)
        new_name = check_name(name) if name is not None else node.name
        new_parent = parent_id if move else node.parent_id
        if move:
            self._check_parent_exists(new_parent)
            if new_parent is not None and (
                new_parent == tag_id or new_parent in self.descendants(tag_id)
            ):
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE,
                    f"'{self.path(tag_id)}' can't move under itself or one of its own sub-tags.",
                    ["parentId"],
                )
        if new_parent != node.parent_id or name_key(new_name) != name_key(node.name):
            self._check_place(tag_id, new_name, new_parent, self.height(tag_id))
        return new_name, new_parent

    def check_delete(self, tag_id: int) -> list[int]:
        """The ids of the children that deleting the tag lifts one level."""
        node = self._node(tag_id)
        lifted = self.children(tag_id)
        if not lifted:
            return []
        staying = [n for n in self.children(node.parent_id) if n.id != tag_id]
        taken = {name_key(n.name): n for n in staying}
        for child in lifted:
            other = taken.get(name_key(child.name))
            if other is not None:
                where = self._level(node.parent_id)
                raise DomainError.of(
                    ErrorCode.DUPLICATE,
                    f"Deleting '{self.path(tag_id)}' would move its sub-tag '{child.name}' up"
                    f" {where}, next to the tag '{other.name}' already there: rename or move"
                    " one of them first.",
                    ["tagId"],
                )
        if node.parent_id is not None and len(staying) + len(lifted) > MAX_CHILDREN:
            raise DomainError.of(
                ErrorCode.TAG_TOO_MANY_CHILDREN,
                f"Deleting '{self.path(tag_id)}' would put {len(staying) + len(lifted)} tags"
                f" under '{self.path(node.parent_id)}', more than the {MAX_CHILDREN} a tag can"
                " hold: move some of its sub-tags elsewhere first.",
                ["tagId"],
            )
        return [c.id for c in lifted]

    # --- Helpers --------------------------------------------------------------------------

    def _node(self, tag_id: int) -> TagNode:
        node = self.nodes.get(tag_id)
        if node is None:
            raise DomainError.of(ErrorCode.NOT_FOUND, "No such tag.", ["tagId"])
        return node

    def _check_parent_exists(self, parent_id: int | None) -> None:
        if parent_id is not None and parent_id not in self.nodes:
            raise DomainError.of(ErrorCode.NOT_FOUND, "No such parent tag.", ["parentId"])

    def _level(self, parent_id: int | None) -> str:
        return "to the first level" if parent_id is None else f"under '{self.path(parent_id)}'"

    def _check_place(
        self, tag_id: int | None, name: str, parent_id: int | None, height: int
    ) -> None:
        """May a tag named `name` spanning `height` levels sit under `parent_id`?"""
        parent_depth = self.depth(parent_id) if parent_id is not None else 0
        if parent_depth + height > MAX_DEPTH:
            if height == 1 and parent_id is not None:
                message = (
                    f"Tags nest at most {MAX_DEPTH} levels: '{self.path(parent_id)}'"
                    f" is at level {parent_depth}, so it can't hold sub-tags."
                )
            else:
                message = (
                    f"Tags nest at most {MAX_DEPTH} levels: '{name}' and its sub-tags span"
                    f" {height} levels, too many to sit {self._level(parent_id)}."
                )
            raise DomainError.of(ErrorCode.TAG_TOO_DEEP, message, ["parentId"])
        siblings = [n for n in self.children(parent_id) if n.id != tag_id]
        for sibling in siblings:
            if name_key(sibling.name) == name_key(name):
                raise DomainError.of(
                    ErrorCode.DUPLICATE,
                    f"A tag named '{sibling.name}' is already {self._level(parent_id)}"
                    " (names are compared ignoring case).",
                    ["name"],
                )
        if parent_id is not None and len(siblings) >= MAX_CHILDREN:
            raise DomainError.of(
                ErrorCode.TAG_TOO_MANY_CHILDREN,
                f"'{self.path(parent_id)}' already holds {len(siblings)} tags, the most one tag"
                " can hold: nest the new tag elsewhere.",
                ["parentId"],
            )
