"""Email for Lyceum: render templates into messages, deliver them through a backend.

Plain synchronous functions; the email job wraps them (sending is never part of a request).

    msg = render_email("welcome", {"name": "Ann", "login_url": url},
                       to="ann@example.com", sender="Lyceum <no-reply@lyceum.example>")
    provider_id = mail_backend(settings.email_url).send(msg)
"""

from lms.mail.backends import MailBackend, mail_backend, validate_email_url
from lms.mail.templates import render_email, template_names

__all__ = ["MailBackend", "mail_backend", "render_email", "template_names", "validate_email_url"]
