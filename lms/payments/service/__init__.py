"""Payments services: checkout, webhooks, fulfilment, refunds, subscriptions, reads."""
