"""What a query selects below the current field, read before resolving it.

A root resolver that knows which nested fields will be asked for can read them all at once
(see `web/resolvers/courses.py`): the nested resolvers then find their values ready and
graphql-core completes the whole tree synchronously, with no task per field.
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
)


def _fields(info: GraphQLResolveInfo, selection_set: SelectionSetNode | None) -> list[FieldNode]:
    found: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found.extend(_fields(info, selection.selection_set))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = info.fragments.get(selection.name.value)
            if fragment is not None:
                found.extend(_fields(info, fragment.selection_set))
    return found


def selection(info: GraphQLResolveInfo, *path: str) -> dict[str, list[FieldNode]]:
    """The fields selected below this field at `path` (`"edges", "node"`), by name, each
    with every node that selects it (aliases and fragments merged)."""
    level = [node for field in info.field_nodes for node in _fields(info, field.selection_set)]
    for name in path:
        level = [
            node
            for field in level
            if field.name.value == name
            for node in _fields(info, field.selection_set)
        ]
    by_name: dict[str, list[FieldNode]] = {}
    for node in level:
        by_name.setdefault(node.name.value, []).append(node)
    return by_name


def below(info: GraphQLResolveInfo, nodes: list[FieldNode]) -> dict[str, list[FieldNode]]:
    """The fields selected below `nodes` (one level down), by name."""
    by_name: dict[str, list[FieldNode]] = {}
    for field in nodes:
        for node in _fields(info, field.selection_set):
            by_name.setdefault(node.name.value, []).append(node)
    return by_name
