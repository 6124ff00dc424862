"""Payments: thin resolvers over `lms.payments`.

Operations that call Stripe run in three steps: a short transaction that validates and
records, the Stripe call off the event loop (`asyncio.to_thread`), a short transaction that
stores Stripe's answer. No transaction stays open across the network.
"""

from __future__ import annotations

import asyncio

from ariadne import MutationType, ObjectType, QueryType

from lms.enrollments import service as enrollments
from lms.errors import LmsError
from lms.payments.access import subscription_grants_access
from lms.payments.errors import PaymentProviderError
from lms.payments.service import checkout, reads, refunds, subscriptions, webhooks
from web.service_fields import bind_service_fields

query = QueryType()
mutation = MutationType()
payment_type = ObjectType("Payment")
checkout_type = ObjectType("CheckoutSession")
subscription_type = ObjectType("PlanSubscription")

bind_service_fields(
    query,
    {
        "getPaymentHistory": reads.get_payment_history,
        "getPayment": reads.get_payment,
        "getUserSubscriptions": subscriptions.user_subscriptions,
        "getRefund": refunds.get_refund,
        "getRefundEligibility": refunds.get_refund_eligibility,
        "paymentWebhookDeliveries": webhooks.webhook_deliveries,
    },
)
bind_service_fields(mutation, {"rehandlePaymentWebhook": webhooks.rehandle_delivery}, write=True)


async def start_checkout(ctx, input: dict) -> checkout.CheckoutView:
    viewer = ctx.require_viewer()
    plan = await ctx.write(checkout.begin_checkout, viewer, input=input)
    stripe_session = await asyncio.to_thread(checkout.open_stripe_session, plan)
    return await ctx.write(
        checkout.attach_session, viewer, payment_id=plan.payment_id, stripe_session=stripe_session
    )


@mutation.field("createCheckoutSession")
async def resolve_create_checkout_session(_, info, input: dict):
    return await start_checkout(info.context, input)


@mutation.field("enrollInCourse")
async def resolve_enroll_in_course(_, info, input: dict):
    """Enroll; a paid course not yet paid for answers PAYMENT_REQUIRED with the checkout to
    complete in `extensions.checkout` (enrolment then follows Stripe's confirmation)."""
    ctx = info.context
    viewer = ctx.require_viewer()
    try:
        return await ctx.write(enrollments.enroll_in_course, viewer, input=input)
    except enrollments.NotEligible as error:
        reasons = error.details.get("reasons") or []
        if error.code != "PAYMENT_REQUIRED" or any(
            r["code"] != "PAYMENT_REQUIRED" for r in reasons
        ):
            raise
        session = await start_checkout(ctx, {"course_id": input.get("course_id")})
        raise LmsError(
            "this course must be purchased first: complete the checkout",
            code="PAYMENT_REQUIRED",
            reasons=reasons,
            checkout={
                "paymentId": str(session.payment_id),
                "sessionId": session.session_id,
                "url": session.url,
                "amount": session.amount,
                "currency": session.currency,
            },
        ) from None


@mutation.field("requestRefund")
async def resolve_request_refund(_, info, input: dict):
    ctx = info.context
    viewer = ctx.require_viewer()
    order = await ctx.write(refunds.begin_refund, viewer, input=input)
    try:
        answer = await asyncio.to_thread(refunds.send_refund, order)
    except PaymentProviderError as error:  # Stripe said no: nothing was refunded
        await ctx.write(
            refunds.refund_refused, viewer, refund_id=order.refund_id, reason=str(error)
        )
        raise
    except ConnectionError:
        # Stripe may have made it before the line dropped: it stays PENDING, and its
        # refund.* webhook (or reconciliation) settles it.
        return await ctx.read(refunds.get_refund, viewer, id=order.refund_id)
    await ctx.write(_apply_refund, viewer, obj=answer)
    return await ctx.read(refunds.get_refund, viewer, id=order.refund_id)


def _apply_refund(session, _viewer, *, obj: dict):
    refunds.apply_refund(session, obj)


@mutation.field("createSubscription")
async def resolve_create_subscription(_, info, input: dict):
    ctx = info.context
    viewer = ctx.require_viewer()
    order = await ctx.write(subscriptions.begin_subscription, viewer, input=input)
    created = await asyncio.to_thread(subscriptions.send_subscription, order)
    return await ctx.write(subscriptions.attach_subscription, viewer, order=order, created=created)


@mutation.field("cancelSubscription")
async def resolve_cancel_subscription(_, info, input: dict):
    ctx = info.context
    viewer = ctx.require_viewer()
    stripe_id, now = await ctx.read(subscriptions.begin_cancel, viewer, input=input)
    answer = await asyncio.to_thread(subscriptions.send_cancel, stripe_id, now)
    return await ctx.write(subscriptions.applied, viewer, obj=answer)


@payment_type.field("refunds")
def resolve_refunds(payment, info):
    return info.context.loaders.load(refunds.refunds_of, payment.id)


@checkout_type.field("payment")
async def resolve_checkout_payment(session, info):
    ctx = info.context
    return await ctx.read(reads.get_payment, ctx.require_viewer(), id=session.payment_id)


@subscription_type.field("grantsAccess")
def resolve_grants_access(sub, _info) -> bool:
    return subscription_grants_access(sub)


bindables = [query, mutation, payment_type, checkout_type, subscription_type]
