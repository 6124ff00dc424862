"""Accounts: registration, sessions (refresh-token families), emailed tokens, profiles.

Plain sync functions on a session; they validate and authorize and never commit. Password
hashing is not done here: it is slow on purpose, so `lms.users.flows` hashes off the event
loop and hands the hash in. One module per section; every public name is re-exported here,
so callers import `lms.users.service` and never a section.
"""

from lms.users.service.common import (
    MAX_NAME,
    account_key,
    clean_name,
    new_token,
    normalize_email,
    token_hash,
)
from lms.users.service.directory import (
    contacts,
    educators_among,
    email_of,
    email_verified,
    lock_user,
    member_facts,
    user_exists,
    user_names,
)
from lms.users.service.profiles import (
    AVATAR_JOB,
    MAX_BIO,
    get_user,
    me,
    update_notification_preferences,
    update_profile,
)
from lms.users.service.registration import (
    SELF_SERVICE_ROLES,
    Registration,
    check_registration,
    create_account,
    create_admin,
)
from lms.users.service.sessions import (
    AuthResult,
    credentials_for,
    logout,
    refresh_owner,
    revoke_families,
    rotate_refresh_token,
    start_session,
)
from lms.users.service.tokens import (
    UNLOCK_PURPOSE,
    request_password_reset,
    resend_verification,
    reset_password,
    reset_target,
    send_unlock_email,
    unlock_target,
    verify_email,
)
from lms.users.service.views import avatar_view, preferences_view, user_view

__all__ = [
    "AVATAR_JOB",
    "MAX_BIO",
    "MAX_NAME",
    "SELF_SERVICE_ROLES",
    "UNLOCK_PURPOSE",
    "AuthResult",
    "Registration",
    "account_key",
    "avatar_view",
    "check_registration",
    "clean_name",
    "contacts",
    "create_account",
    "create_admin",
    "credentials_for",
    "educators_among",
    "email_of",
    "email_verified",
    "get_user",
    "lock_user",
    "logout",
    "me",
    "member_facts",
    "new_token",
    "normalize_email",
    "preferences_view",
    "refresh_owner",
    "request_password_reset",
    "resend_verification",
    "reset_password",
    "reset_target",
    "revoke_families",
    "rotate_refresh_token",
    "send_unlock_email",
    "start_session",
    "token_hash",
    "unlock_target",
    "update_notification_preferences",
    "update_profile",
    "user_exists",
    "user_names",
    "user_view",
    "verify_email",
]
