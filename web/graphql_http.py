"""GraphQL over HTTP (`POST /graphql`), the GraphiQL explorer, and the websocket app."""

from __future__ import annotations

import functools
import json
import time
from collections import OrderedDict
from typing import Any

from ariadne import graphql
from ariadne.asgi import GraphQL
from ariadne.asgi.handlers import GraphQLTransportWSHandler
from graphql import DocumentNode, OperationDefinitionNode, parse, specified_rules, validate
from quart import Blueprint, Response, current_app, request

from lms.logs import request_id
from lms.observability import tracing
from lms.observability.context import set_tags
from lms.security import ANONYMOUS
from web import response_cache
from web.context import Context, Services, authenticate, bearer_token, client_address
from web.errors import error_log, format_error, operation_name
from web.execution import LeanExecutionContext
from web.explorer import page as explorer_page
from web.input_hygiene import LiteralHygiene, VariableHygiene
from web.limits import alias_limit_rule, depth_limit_rule
from web.query_cost import CostLimit
from web.request_session import RequestSession
from web.metrics import (
    GRAPHQL_ERRORS,
    GRAPHQL_OPERATION_SECONDS,
    GRAPHQL_OPERATIONS,
    GRAPHQL_SECONDS,
)
from web.schema import build_schema

blueprint = Blueprint("graphql", __name__)


@functools.lru_cache(maxsize=2048)
def _parse(query: str) -> DocumentNode:
    return parse(query)


def operation_label(data: dict) -> str | None:
    """What the log calls an operation: its `operationName`, else the first root field of
    the document (`requestPasswordReset`), so a log line says what the client tried."""
    if isinstance(data.get("operationName"), str):
        return data["operationName"][:100]
    try:
        operation = next(
            d for d in _parse(data["query"]).definitions if isinstance(d, OperationDefinitionNode)
        )
        return operation.selection_set.selections[0].name.value
    except Exception:  # noqa: BLE001 - no query, or one that does not parse: the error says so
        return None


def root_field(data: dict) -> str:
    """The first root field of the document's first operation (a metric label bounded by
    the schema, unlike the client's operationName); "-" for a document that does not parse."""
    try:
        operation = next(
            d for d in _parse(data["query"]).definitions if isinstance(d, OperationDefinitionNode)
        )
        return operation.selection_set.selections[0].name.value[:100]
    except Exception:  # noqa: BLE001 - no query, or one that does not parse
        return "-"


def operation_type(data: dict) -> str:
    """`query`, `mutation` or `subscription`: the first operation's (for a span's name)."""
    try:
        operation = next(
            d for d in _parse(data["query"]).definitions if isinstance(d, OperationDefinitionNode)
        )
        return operation.operation.value
    except Exception:  # noqa: BLE001 - a query that does not parse: its error says so
        return "graphql"


def cached_parser(_context, data: dict) -> DocumentNode:
    """Parsing is a few ms per request; the same query text parses once."""
    return _parse(data["query"])


def validation_rules(services: Services):
    settings = services.settings

    def rules(_context, _document, data: dict) -> list:
        variables = data.get("variables") if isinstance(data.get("variables"), dict) else None
        return [
            LiteralHygiene,
            VariableHygiene(data.get("variables")),
            depth_limit_rule(settings.query_max_depth),
            alias_limit_rule(settings.query_max_aliases),
            CostLimit(settings.query_max_cost, variables),
        ]

    return rules


class CachedValidator:
    """Validates each distinct document once.

    Validation costs milliseconds and its result depends only on the document and the
    rules, so it is cached per parsed document (the parse cache hands back the same
    object for the same text). Rules that read the request's variables (the cost limit,
    the variables' hygiene) run on every request: through their `errors_for` when they
    have one, which skips graphql-core's visit of the whole document with type info (those
    two are per-request objects with `errors_for`, not visitor classes).
    """

    def __init__(self, maxsize: int = 2048) -> None:
        self.maxsize = maxsize
        self._results: OrderedDict[int, tuple[DocumentNode, tuple, list]] = OrderedDict()

    def __call__(
        self, schema, document: DocumentNode, rules=None, max_errors=None, **kwargs
    ) -> list:
        rules = tuple(rules or specified_rules)
        per_request = tuple(rule for rule in rules if getattr(rule, "reads_variables", False))
        static = tuple(rule for rule in rules if rule not in per_request)
        cached = self._results.get(id(document))
        if cached is not None and cached[0] is document and cached[1] == static:
            self._results.move_to_end(id(document))
            errors = cached[2]
        else:
            errors = validate(schema, document, rules=static, max_errors=max_errors)
            self._results[id(document)] = (document, static, errors)
            if len(self._results) > self.maxsize:
                self._results.popitem(last=False)
        if errors or not per_request:
            return errors
        direct = [rule for rule in per_request if hasattr(rule, "errors_for")]
        errors = [error for rule in direct for error in rule.errors_for(schema, document)]
        visited = tuple(rule for rule in per_request if rule not in direct)
        if visited:
            errors += validate(schema, document, rules=visited, max_errors=max_errors)
        return errors


cached_validator = CachedValidator()

# How every operation is parsed, validated, executed and its errors reported, over HTTP and
# over websockets alike.
SHELL_OPTIONS: dict[str, Any] = {
    "query_parser": cached_parser,
    "query_validator": cached_validator,
    "execution_context_class": LeanExecutionContext,
    "error_formatter": format_error,
    "logger": error_log,
}


def error_response(status: int, code: str, message: str) -> Response:
    extensions = {"code": code}
    if rid := request_id.get():
        extensions["requestId"] = rid
    body = {"errors": [{"message": message, "extensions": extensions}]}
    return Response(json.dumps(body), status=status, content_type="application/json")


def services() -> Services:
    return current_app.config["LMS_SERVICES"]


@blueprint.get("/graphql")
async def explorer() -> Response:
    if not services().settings.graphiql:
        return error_response(405, "METHOD_NOT_ALLOWED", "Send GraphQL operations with POST.")
    return explorer_page()  # assets from the installed package: works offline


@blueprint.post("/graphql")
async def graphql_http() -> Response:
    svc = services()
    if request.mimetype != "application/json":
        # JSON only: a cross-site form cannot send it without a CORS preflight (CSRF).
        return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "Send GraphQL as application/json.")
    raw = await request.get_data()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "BAD_REQUEST", "The request body is not valid JSON.")
    if not isinstance(data, dict):
        return error_response(400, "BAD_REQUEST", "Send one operation as a JSON object.")
    authorization = request.headers.get("Authorization")
    operation_name.set(operation_label(data))

    async def execute() -> tuple[int, dict]:
        label = operation_name.get() or "anonymous"
        with tracing.span(
            f"{operation_type(data)} {label}",  # never the query text with its arguments
            traceparent=request.headers.get("traceparent"),
            kind="SERVER",
            attributes={"graphql.operation.name": label},
        ) as current:
            db = RequestSession(svc.sessions)  # one session for the whole request
            try:
                viewer, auth_error = await authenticate(svc, bearer_token(authorization), db)
                set_tags(user_id=viewer.user_id, operation=operation_name.get())
                ip = client_address(request.remote_addr, request.headers, svc.settings)
                context = Context(svc, viewer=viewer, auth_error=auth_error, client_ip=ip, db=db)
                started = time.perf_counter()
                success, result = await graphql(
                    build_schema(),
                    data,
                    context_value=context,
                    validation_rules=validation_rules(svc),
                    debug=svc.settings.debug,
                    introspection=svc.settings.env != "production" or svc.settings.graphiql,
                    **SHELL_OPTIONS,
                )
                elapsed = time.perf_counter() - started
            finally:
                await db.close()
            GRAPHQL_SECONDS.labels("ok" if success else "error").observe(elapsed)
            # Only a validated document's field: a refused one could name anything.
            field = root_field(data) if "data" in result else "-"
            errors = result.get("errors") or []
            GRAPHQL_OPERATIONS.labels(field, "error" if errors else "ok").inc()
            GRAPHQL_OPERATION_SECONDS.labels(field).observe(elapsed)
            codes = {e.get("extensions", {}).get("code") or "UNKNOWN" for e in errors}
            for code in codes:
                GRAPHQL_ERRORS.labels(field, code).inc()
            if codes:
                tracing.mark_error(current, ",".join(sorted(codes)))
        return (200 if "data" in result else 400), result

    # Anonymous public catalog queries may be answered whole from the response cache.
    cache = response_cache.cache_for(current_app.extensions, svc.settings)
    status, body, outcome = await response_cache.respond(
        cache, svc.sessions, authorization, data, _parse, execute
    )
    return Response(
        body, status=status, content_type="application/json", headers={"X-Cache": outcome}
    )


def websocket_app(holder: dict) -> GraphQL:
    """Ariadne's ASGI app, used for websocket subscriptions only (graphql-transport-ws).

    `holder["services"]` is filled in at start-up, before any connection is accepted.
    """

    async def on_connect(websocket, payload) -> None:
        payload = payload if isinstance(payload, dict) else {}
        raw = (
            payload.get("Authorization") or payload.get("authorization") or payload.get("authToken")
        )
        token = bearer_token(raw) if raw and " " in str(raw) else raw
        viewer, error = await authenticate(holder["services"], token)
        if error is not None:
            raise error  # the handler closes the connection
        websocket.scope["lms.viewer"] = viewer

    def context_value(websocket, data) -> Context:
        operation_name.set(operation_label(data if isinstance(data, dict) else {}))
        viewer = websocket.scope.get("lms.viewer", ANONYMOUS)
        set_tags(user_id=viewer.user_id, operation=operation_name.get())
        return Context(holder["services"], viewer=viewer)

    def rules(context, document, data):
        return validation_rules(holder["services"])(context, document, data)

    return GraphQL(
        build_schema(),
        context_value=context_value,
        validation_rules=rules,
        websocket_handler=GraphQLTransportWSHandler(on_connect=on_connect),
        **SHELL_OPTIONS,
    )
