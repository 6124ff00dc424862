"""payments: payments, refunds, subscriptions, Stripe customers, webhook deliveries

Revision ID: 0013
Revises: 0007 (the lead re-chains it at merge); needs 0006 (enrollments)
Create Date: 2026-12-06 12:36:09.982557
"""

import sqlalchemy as sa
from alembic import op

import lms.models

revision = "0013"
down_revision = "0007"
branch_labels = None
depends_on = ("0006",)  # payments.enrollment_id references enrollments


def upgrade() -> None:
    op.create_table(
        "payment_customers",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_payment_customers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_payment_customers")),
        sa.UniqueConstraint(
            "stripe_customer_id", name=op.f("uq_payment_customers_stripe_customer_id")
        ),
    )
    op.create_table(
        "payment_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plan", sa.String(length=100), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "INCOMPLETE",
                "TRIALING",
                "ACTIVE",
                "PAST_DUE",
                "UNPAID",
                "CANCELED",
                "INCOMPLETE_EXPIRED",
                name="subscriptionstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("current_period_end", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("grace_until", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("canceled_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_payment_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_subscriptions")),
        sa.UniqueConstraint(
            "stripe_subscription_id", name=op.f("uq_payment_subscriptions_stripe_subscription_id")
        ),
    )
    with op.batch_alter_table("payment_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_subscriptions_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "payment_webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("claimed_event_id", sa.String(length=255), nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=True),
        sa.Column("event_created", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "INVALID",
                "QUEUED",
                "HANDLED",
                "IGNORED",
                "FAILED",
                name="deliveryoutcome",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("handled_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_payment_webhook_deliveries_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_webhook_deliveries")),
        sa.UniqueConstraint("event_id", name=op.f("uq_payment_webhook_deliveries_event_id")),
    )
    with op.batch_alter_table("payment_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_webhook_deliveries_claimed_event_id"),
            ["claimed_event_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_payment_webhook_deliveries_event_type"), ["event_type"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_webhook_deliveries_job_id"), ["job_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_webhook_deliveries_outcome"), ["outcome"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_webhook_deliveries_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("COURSE", "SUBSCRIPTION", name="paymentkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "PAID",
                "FAILED",
                "EXPIRED",
                "PARTIALLY_REFUNDED",
                "REFUNDED",
                name="paymentstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("stripe_checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("checkout_expires_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("enrollment_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_payments_course_id_courses"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_payments_enrollment_id_enrollments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["payment_subscriptions.id"],
            name=op.f("fk_payments_subscription_id_payment_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "stripe_checkout_session_id", name=op.f("uq_payments_stripe_checkout_session_id")
        ),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_payments_stripe_invoice_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_course_id"), ["course_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_payments_enrollment_id"), ["enrollment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payments_stripe_payment_intent_id"),
            ["stripe_payment_intent_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_payments_subscription_id"), ["subscription_id"], unique=False
        )
        batch_op.create_index(
            "ix_payments_user_course_status", ["user_id", "course_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_payments_user_created", ["user_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "SUCCEEDED",
                "FAILED",
                "CANCELED",
                name="refundstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("failure_reason", sa.String(length=255), nullable=True),
        sa.Column("stripe_refund_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_refunds_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_payment_refunds_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_payment_refunds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("stripe_refund_id", name=op.f("uq_payment_refunds_stripe_refund_id")),
    )
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_refunds_payment_id"), ["payment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_refunds_requested_by_id"), ["requested_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payment_refunds_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_refunds_user_id"))
        batch_op.drop_index(batch_op.f("ix_payment_refunds_requested_by_id"))
        batch_op.drop_index(batch_op.f("ix_payment_refunds_payment_id"))

    op.drop_table("payment_refunds")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_user_created")
        batch_op.drop_index("ix_payments_user_course_status")
        batch_op.drop_index(batch_op.f("ix_payments_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_payments_stripe_payment_intent_id"))
        batch_op.drop_index(batch_op.f("ix_payments_enrollment_id"))
        batch_op.drop_index(batch_op.f("ix_payments_course_id"))

    op.drop_table("payments")
    with op.batch_alter_table("payment_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_webhook_deliveries_received_at"))
        batch_op.drop_index(batch_op.f("ix_payment_webhook_deliveries_outcome"))
        batch_op.drop_index(batch_op.f("ix_payment_webhook_deliveries_job_id"))
        batch_op.drop_index(batch_op.f("ix_payment_webhook_deliveries_event_type"))
        batch_op.drop_index(batch_op.f("ix_payment_webhook_deliveries_claimed_event_id"))

    op.drop_table("payment_webhook_deliveries")
    with op.batch_alter_table("payment_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_subscriptions_user_id"))

    op.drop_table("payment_subscriptions")
    op.drop_table("payment_customers")
