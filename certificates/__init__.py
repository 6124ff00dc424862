"""Certificates: verification codes, QR codes and PDF certificates.

A pure library: data in, bytes out. It knows nothing of databases, Celery or GraphQL, so
tasks call it with plain values and tests use it alone.
"""

from certificates.codes import is_well_formed, new_certificate_code, normalize_code
from certificates.data import CertificateData
from certificates.layout import Paper
from certificates.pdf import render_certificate_pdf
from certificates.qr import qr_png

__all__ = [
    "CertificateData",
    "Paper",
    "is_well_formed",
    "new_certificate_code",
    "normalize_code",
    "qr_png",
    "render_certificate_pdf",
]
