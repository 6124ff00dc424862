"""Validation checks that read one request's variables (the cost limit, the variables'
hygiene) are small per-request objects with `errors_for(schema, document)`.

`web.graphql_http.CachedValidator` calls `errors_for` directly. Called with a validation
context, as graphql-core's own `validate` calls a rule, a check gives a visitor that reports
the same errors: the class is made once, not per request (a class per request cost its
creation and a garbage collection every time).
"""

from __future__ import annotations

from typing import Any

from graphql import ValidationRule


class ReportCheck(ValidationRule):
    def __init__(self, context: Any, check: Any) -> None:
        super().__init__(context)
        self.check = check

    def enter_document(self, node, *_args):
        for error in self.check.errors_for(self.context.schema, node):
            self.report_error(error)
        return self.BREAK
