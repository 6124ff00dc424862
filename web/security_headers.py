"""The security headers every HTTP answer carries (Quart's after-request hook sets them, and
the plain ASGI webhook endpoint, which answers ahead of Quart, sends them itself)."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-site",
}
