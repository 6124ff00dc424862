"""Users: sign-up, sessions, emailed tokens, profiles. Thin: the rules live in lms.users."""

from __future__ import annotations

from ariadne import MutationType, ObjectType, QueryType

from lms.users import avatars, flows, service

query = QueryType()
mutation = MutationType()
user_type = ObjectType("User")
avatar_image_type = ObjectType("AvatarImage")


@avatar_image_type.field("url")
def resolve_avatar_url(image: dict, info) -> str:
    # Its own resolver: a URL is signed (presigned on S3) only when a client asks for it.
    return avatars.image_url(image["key"], info.context.settings)


@user_type.field("notificationPreferences")
async def resolve_notification_preferences(user: dict, info) -> list | None:
    if not user.get("private_fields"):
        return None  # someone else's profile
    return await info.context.read(service.preferences_view, user["id"])


@query.field("me")
async def resolve_me(_, info) -> dict:
    ctx = info.context
    return await ctx.read(service.me, ctx.require_viewer())


@query.field("user")
async def resolve_user(_, info, id: str) -> dict:
    ctx = info.context
    return await ctx.read(service.get_user, ctx.require_viewer(), id)


@mutation.field("register")
async def resolve_register(_, info, input: dict):
    ctx = info.context
    return await flows.register(ctx, ctx.require_viewer(), ip=ctx.client_ip, input=input)


@mutation.field("login")
async def resolve_login(_, info, input: dict):
    ctx = info.context
    return await flows.login(
        ctx, ip=ctx.client_ip, email=input["email"], password=input["password"]
    )


@mutation.field("refreshToken")
async def resolve_refresh_token(_, info, input: dict):
    ctx = info.context
    return await flows.refresh(ctx, ip=ctx.client_ip, refresh_token=input["refresh_token"])


@mutation.field("logout")
async def resolve_logout(_, info, input: dict | None = None) -> dict:
    ctx = info.context
    input = input or {}
    count = await ctx.write(
        service.logout,
        ctx.require_viewer(),
        refresh_token=input.get("refresh_token"),
        all_devices=bool(input.get("all_devices")),
    )
    return {"revoked_sessions": count}


@mutation.field("verifyEmail")
async def resolve_verify_email(_, info, input: dict) -> dict:
    return await info.context.write(service.verify_email, token=input["token"])


@mutation.field("resendVerificationEmail")
async def resolve_resend_verification(_, info) -> bool:
    ctx = info.context
    return await ctx.write(service.resend_verification, ctx.require_viewer())


@mutation.field("requestPasswordReset")
async def resolve_request_password_reset(_, info, input: dict) -> bool:
    ctx = info.context
    return await flows.request_password_reset(ctx, ip=ctx.client_ip, email=input["email"])


@mutation.field("resetPassword")
async def resolve_reset_password(_, info, input: dict) -> bool:
    return await flows.reset_password(
        info.context, token=input["token"], new_password=input["new_password"]
    )


@mutation.field("unlockSignIn")
async def resolve_unlock_sign_in(_, info, token: str) -> bool:
    return await flows.unlock_sign_in(info.context, token=token)


@mutation.field("updateProfile")
async def resolve_update_profile(_, info, input: dict) -> dict:
    ctx = info.context
    return await ctx.write(
        service.update_profile, ctx.require_viewer(), fields=input, ip=ctx.client_ip
    )


# updateNotificationPreferences is served by web/resolvers/notifications.py (one implementation).


bindables = [query, mutation, user_type, avatar_image_type]
