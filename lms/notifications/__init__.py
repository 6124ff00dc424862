"""Notifications: in-app, email and web push by each user's preferences.

Other domains call `lms.notifications.service.notify` (one user) or `notify_many` (a
fan-out) in their own transaction; this module decides the channels.
"""
