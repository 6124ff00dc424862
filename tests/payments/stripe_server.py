"""A Stripe-compatible API for the tests: localstripe, plus what it lacks.

localstripe (in process) keeps customers, payment methods, payment intents, plans,
subscriptions, invoices, refunds and events, and sends webhooks signed with Stripe's scheme
(`t=…,v1=HMAC-SHA256(secret, "t.body")`). Added here, on the same aiohttp app:

- Checkout Sessions (`/v1/checkout/sessions`); idempotency keys honoured on every POST as
  Stripe does (a repeated key replays the first answer);
- Prices (`/v1/prices`, kept as localstripe plans) and `items[][price]` on subscriptions;
- `refund.created` and `customer.subscription.updated` events, which localstripe never sends;
- test controls under `/_test/`: pay, fail or expire a checkout (optionally without sending
  its webhook, as if the delivery were lost), fail a refund or a renewal;
- a log of every request with its `Idempotency-Key`, so tests can check each POST had one.

Every event is kept in localstripe's event list, so `GET /v1/events` serves reconciliation.
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.resources import (
    Event,
    PaymentIntent,
    PaymentMethod,
    Plan,
    Product,
    Refund,
    StripeObject,
    Subscription,
)
from localstripe.webhooks import register_webhook, schedule_webhook

resources.Store.dump_to_disk = lambda self: None  # keep it in memory: tests start afresh


class CheckoutSession(StripeObject):
    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(self, base_url: str, **params):
        super().__init__()
        line = params["line_items"][0]
        price = line["price_data"]
        quantity = int(line.get("quantity", 1))
        self.mode = params.get("mode", "payment")
        self.client_reference_id = params.get("client_reference_id")
        self.customer_email = params.get("customer_email")
        self.metadata = params.get("metadata") or {}
        self.currency = price["currency"]
        self.amount_subtotal = self.amount_total = int(price["unit_amount"]) * quantity
        self.payment_status = "unpaid"
        self.status = "open"
        self.payment_intent = None
        self.success_url = params["success_url"]
        self.cancel_url = params["cancel_url"]
        self.expires_at = self.created + 24 * 3600
        self.url = f"{base_url}/pay/{self.id}"
        self._intent_metadata = (params.get("payment_intent_data") or {}).get("metadata") or {}


class Snapshot:
    """An event's object given as a plain dict."""

    def __init__(self, data: dict):
        self.data = data

    def _export(self, expand=None):
        return dict(self.data)


class StripeServer:
    def __init__(self, webhook_secret: str) -> None:
        self.webhook_secret = webhook_secret
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, idempotency key
        self._idempotent: dict[str, dict] = {}
        self.app = server.app
        self.app.middlewares.insert(0, self._middleware)
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> StripeServer:
        threading.Thread(target=self._run, daemon=True).start()
        assert self._started.wait(15), "stripe server did not start"
        return self

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._started.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def send_webhooks_to(self, url: str) -> None:
        register_webhook("lyceum", url, self.webhook_secret, None)

    def posts_without_idempotency_key(self) -> list[str]:
        return [path for method, path, key in self.requests if method == "POST" and not key]

    # --- routing ------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        path = request.path
        key = request.headers.get("Idempotency-Key")
        self.requests.append((request.method, path, key))
        if request.method == "POST" and key and key in self._idempotent:
            return server.json_response(self._idempotent[key])  # Stripe replays its answer
        try:
            if path.startswith("/_test/"):
                return await self._test_control(request)
            if path.startswith("/v1/checkout/sessions"):
                return await self._checkout(request)
            if path == "/v1/prices" and request.method == "POST":
                return await self._create_price(request)
            if path == "/v1/subscriptions" and request.method == "POST":
                return await self._create_subscription(request)
            response = await handler(request)
        except UserError as error:
            return error.to_response()
        if request.method == "POST" and response.status == 200:
            if key:
                self._idempotent[key] = _json(response)
            await self._after(request, response)
        return response

    async def _idempotent_create(self, request, create) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        if key and key in self._idempotent:
            return server.json_response(self._idempotent[key])
        body = create(await server.get_post_data(request) or {})
        if key:
            self._idempotent[key] = body
        return server.json_response(body)

    async def _checkout(self, request: web.Request) -> web.Response:
        parts = request.path.rstrip("/").split("/")
        if request.method == "POST" and len(parts) == 4:
            base = self.url
            return await self._idempotent_create(
                request, lambda data: CheckoutSession(base, **data)._export()
            )
        if request.method == "GET" and len(parts) == 5:
            return server.json_response(CheckoutSession._api_retrieve(parts[4])._export())
        raise UserError(404, "Not Found")

    async def _create_price(self, request: web.Request) -> web.Response:
        def create(data):
            product = Product(name=(data.get("product_data") or {}).get("name", "plan"))
            plan = Plan(
                id=data.get("lookup_key"),
                amount=int(data["unit_amount"]),
                currency=data["currency"],
                interval=data["recurring"]["interval"],
                product=product.id,
            )
            return {
                "id": plan.id,
                "object": "price",
                "unit_amount": plan.amount,
                "currency": plan.currency,
                "recurring": {"interval": plan.interval},
            }

        return await self._idempotent_create(request, create)

    async def _create_subscription(self, request: web.Request) -> web.Response:
        def create(data):
            for item in data.get("items") or []:
                if "price" in item:  # localstripe knows prices as plans
                    item["plan"] = item.pop("price")
            return Subscription._api_create(**data)._export()

        return await self._idempotent_create(request, create)

    async def _after(self, request: web.Request, response: web.Response) -> None:
        """Events Stripe sends and localstripe does not."""
        parts = request.path.rstrip("/").split("/")
        if request.path == "/v1/refunds":
            refund = Refund._api_retrieve(_json(response)["id"])
            schedule_webhook(Event("refund.created", refund))
        elif len(parts) == 4 and parts[2] == "subscriptions":
            sub = Subscription._api_retrieve(parts[3])
            schedule_webhook(Event("customer.subscription.updated", sub))

    # --- test controls -----------------------------------------------------------------------

    async def _test_control(self, request: web.Request) -> web.Response:
        data = await request.json() if request.can_read_body else {}
        parts = request.path.strip("/").split("/")  # _test, kind, id, action
        kind, key, action = parts[1], parts[2], parts[3]
        deliver = data.get("deliver", True)
        if kind == "checkout":
            events = self._checkout_outcome(CheckoutSession._api_retrieve(key), action, data)
        elif kind == "refunds":
            refund = Refund._api_retrieve(key)
            refund.status, refund.failure_reason = "failed", "expired_or_canceled_card"
            events = [Event("refund.failed", refund)]
        elif kind == "subscriptions":
            events = self._renewal_failed(Subscription._api_retrieve(key))
        else:
            raise UserError(404, "Not Found")
        if deliver:
            for event in events:
                schedule_webhook(event)
        return server.json_response({"events": [event._export() for event in events]})

    def _charge(self, session: CheckoutSession, *, confirm: bool) -> None:
        if session.payment_intent is None:
            method = PaymentMethod(
                type="card",
                card={
                    "number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "cvc": "123",
                },
            )
            intent = PaymentIntent(
                amount=session.amount_total,
                currency=session.currency,
                payment_method=method.id,
                metadata=session._intent_metadata,
            )
            session.payment_intent = intent.id
        if confirm:
            PaymentIntent._api_confirm(session.payment_intent)

    def _checkout_outcome(self, session: CheckoutSession, action: str, data: dict) -> list:
        if "amount_total" in data:  # a session whose amount differs from the one asked for
            session.amount_total = int(data["amount_total"])
        if action == "pay":
            self._charge(session, confirm=True)
            session.status, session.payment_status = "complete", "paid"
            return [Event("checkout.session.completed", session)]
        if action == "pay_later":  # a bank debit: completed now, the money settles later
            self._charge(session, confirm=False)
            session.status = "complete"
            return [Event("checkout.session.completed", session)]
        if action == "settle":
            self._charge(session, confirm=True)
            session.payment_status = "paid"
            return [Event("checkout.session.async_payment_succeeded", session)]
        if action == "bounce":
            return [Event("checkout.session.async_payment_failed", session)]
        if action == "expire":
            session.status = "expired"
            return [Event("checkout.session.expired", session)]
        raise UserError(404, "Not Found")

    def _renewal_failed(self, sub: Subscription) -> list:
        sub.status = "past_due"
        invoice = {
            "id": "in_" + resources.random_id(14),
            "object": "invoice",
            "subscription": sub.id,
            "customer": sub.customer,
            "amount_due": sub.plan.amount if hasattr(sub, "plan") and sub.plan else 0,
            "amount_paid": 0,
            "currency": "usd",
            "status": "open",
            "created": int(time.time()),
        }
        return [Event("invoice.payment_failed", Snapshot(invoice))]


def _json(response: web.Response) -> dict:
    import json

    return json.loads(response.body)
