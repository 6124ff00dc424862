"""The API application: Quart for HTTP, Ariadne's websocket handler for subscriptions.

Ariadne's ASGI app raises on `lifespan` and Quart has no `mount()`, so a small dispatcher
sends websocket connections on /graphql to Ariadne and everything else (including the
lifespan) to Quart.
"""

from __future__ import annotations

import json
import logging

from quart import Quart, Response, request
from sqlalchemy.exc import TimeoutError as PoolTimeout

from lms.config import Settings, get_settings
from lms.db import build_async_engine, build_intake_engine, make_async_sessionmaker
from lms.observability.metrics import WEBSOCKET_CONNECTIONS
from web import (
    account_pages,
    admin_page,
    certificate_page,
    errors,
    explorer,
    graphql_http,
    health,
    notifications_http,
    storage_http,
    unlock_page,
    webhooks,
)
from web.context import Services
from web.events import EventHub
from web.request_ids import with_request_id
from web.security_headers import SECURITY_HEADERS

log = logging.getLogger(__name__)


def create_quart(settings: Settings, holder: dict) -> Quart:
    app = Quart("lyceum")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.register_blueprint(graphql_http.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(admin_page.blueprint)
    app.register_blueprint(explorer.blueprint)
    app.register_blueprint(notifications_http.blueprint)  # one-click unsubscribe links
    if not settings.app_url:  # emailed links point at the API itself: answer them here
        app.register_blueprint(account_pages.blueprint)
    app.register_blueprint(certificate_page.blueprint)  # the QR code's public page
    app.register_blueprint(unlock_page.blueprint)  # the emailed unlock-sign-in link
    storage_http.install(app)  # signed uploads, downloads and streams (Content module)

    @app.before_serving
    async def start() -> None:
        engine = build_async_engine(settings)
        hub = EventHub(settings)
        await hub.start()
        services = Services(settings, make_async_sessionmaker(engine), hub)
        app.config["LMS_SERVICES"] = holder["services"] = services
        app.config["LMS_ENGINE"] = engine
        app.config["LMS_INTAKE_ENGINE"] = build_intake_engine(settings)  # connects when used

    @app.after_serving
    async def stop() -> None:
        await holder["services"].hub.stop()
        await app.config["LMS_ENGINE"].dispose()
        await app.config["LMS_INTAKE_ENGINE"].dispose()

    @app.errorhandler(413)
    async def too_large(_error) -> Response:
        return graphql_http.error_response(
            413, "REQUEST_TOO_LARGE", f"The request body is over {settings.max_body_bytes} bytes."
        )

    @app.errorhandler(PoolTimeout)
    async def busy(_error) -> Response:
        # Outside GraphQL (the viewer's lookup, plain routes): the same answer as inside.
        log.warning("SERVICE_BUSY: no database connection within %ss", settings.db_pool_timeout)
        response = graphql_http.error_response(503, errors.BUSY, errors.BUSY_MESSAGE)
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(404)
    async def not_found(_error) -> Response:
        return graphql_http.error_response(404, "NOT_FOUND", "No such endpoint.")

    @app.errorhandler(405)
    async def not_allowed(_error) -> Response:
        return graphql_http.error_response(405, "METHOD_NOT_ALLOWED", "Method not allowed here.")

    @app.before_request
    async def preflight():
        if request.method == "OPTIONS":
            return Response("", status=204)
        return None

    @app.after_request
    async def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        origin = request.headers.get("Origin")
        if origin and origin in settings.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Range"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.get("/")
    async def index() -> Response:
        body = {
            "service": "lyceum",
            "graphql": "/graphql",
            "health": "/healthz",
            "ready": "/readyz",
            "metrics": "/metrics",
        }
        return Response(json.dumps(body), content_type="application/json")

    return app


class Dispatcher:
    """ASGI entry point: websocket /graphql → Ariadne; /webhooks/stripe → its plain ASGI
    handler (web/webhooks.py); the rest → Quart; each request with its request id
    (web/request_ids.py)."""

    def __init__(self, quart: Quart, websocket_app) -> None:
        self.quart = quart
        self.websocket_app = websocket_app

    async def __call__(self, scope, receive, send) -> None:
        await with_request_id(self._route, scope, receive, send)

    async def _route(self, scope, receive, send) -> None:
        if scope["type"] == "websocket" and scope["path"].rstrip("/") == "/graphql":
            with WEBSOCKET_CONNECTIONS.track_inprogress():
                await self.websocket_app(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == webhooks.STRIPE_PATH:
            await webhooks.stripe_webhook(self.quart.config, scope, receive, send)
        else:
            await self.quart(scope, receive, send)


def create_app(settings: Settings | None = None) -> Dispatcher:
    settings = settings or get_settings()
    holder: dict = {}
    return Dispatcher(create_quart(settings, holder), graphql_http.websocket_app(holder))
