"""Validation rules that refuse abusive documents before anything executes."""

from __future__ import annotations

import functools

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)


@functools.cache  # one class per limit, so cached validation results stay valid
def depth_limit_rule(max_depth: int) -> type[ValidationRule]:
    class DepthLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args):
            fragments = {
                definition.name.value: definition
                for definition in self.context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            depth = _depth(node.selection_set, fragments, 0, max_depth, frozenset())
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"Query is nested {depth} levels deep; the limit is {max_depth}.",
                        node,
                        extensions={"code": "QUERY_TOO_DEEP", "maxDepth": max_depth},
                    )
                )

    return DepthLimit


def _depth(selection_set: SelectionSetNode | None, fragments, depth: int, limit: int, seen) -> int:
    if selection_set is None or depth > limit:
        return depth
    deepest = depth
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            child = _depth(selection.selection_set, fragments, depth + 1, limit, seen)
        elif isinstance(selection, InlineFragmentNode):
            child = _depth(selection.selection_set, fragments, depth, limit, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen or name not in fragments:  # cycles are another rule's error
                continue
            child = _depth(fragments[name].selection_set, fragments, depth, limit, seen | {name})
        else:
            continue
        deepest = max(deepest, child)
    return deepest


@functools.cache
def alias_limit_rule(max_aliases: int) -> type[ValidationRule]:
    class AliasLimit(ValidationRule):
        def __init__(self, context):
            super().__init__(context)
            self.count = 0

        def enter_field(self, node: FieldNode, *_args):
            if node.alias is None:
                return
            self.count += 1
            if self.count == max_aliases + 1:
                self.report_error(
                    GraphQLError(
                        f"Too many aliases in one document; the limit is {max_aliases}.",
                        node,
                        extensions={"code": "TOO_MANY_ALIASES", "maxAliases": max_aliases},
                    )
                )

    return AliasLimit
