"""The signing keys of access tokens: made, rotated by age, published while tokens may live."""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.ops.identity.adapters.kv_repositories import ConcurrentUpdate
from services.ops.identity.domain.tokens import SigningKey, new_signing_key
from services.ops.identity.use_cases.context import IdentityContext, log

KEY_RELOAD_SECONDS = 60.0
UNKNOWN_KID_RELOAD_SECONDS = 5.0


async def ensure_signing_key(ctx: IdentityContext) -> SigningKey:
    """The active signing key, made (or rotated) when missing or older than the rotation period."""
    active = await active_key(ctx)
    if active is None or ctx.clock() - active.created_at >= ctx.config.signing_key_rotation_seconds:
        await rotate_keys(ctx)
        active = await active_key(ctx, force=True)
    if active is None:  # pragma: no cover - a rotation always leaves an active key
        raise RuntimeError("no active signing key")
    return active


async def load_keys(ctx: IdentityContext, *, force: bool = False) -> list[SigningKey]:
    cache = ctx.key_cache
    now = ctx.clock()
    if force or now - cache.loaded_at >= KEY_RELOAD_SECONDS:
        cache.keys = [key for key, _ in await ctx.signing_keys.list()]
        cache.loaded_at = now
    return cache.keys


async def active_key(ctx: IdentityContext, *, force: bool = False) -> SigningKey | None:
    return next((key for key in await load_keys(ctx, force=force) if not key.retired_at), None)


def published(ctx: IdentityContext, keys: list[SigningKey]) -> list[SigningKey]:
    """Keys that may still have live tokens: the active ones, and those retired within a token life."""
    horizon = ctx.config.tokens.access_ttl_seconds + ctx.config.tokens.leeway_seconds
    now = ctx.clock()
    return [key for key in keys if not key.retired_at or now - key.retired_at <= horizon]


async def rotate_keys(ctx: IdentityContext) -> SigningKey:
    now = ctx.clock()
    fresh = new_signing_key(now)
    await ctx.signing_keys.create(fresh)
    for key, revision in await ctx.signing_keys.list():
        # Only keys older than the fresh one retire: two replicas rotating at once must not
        # retire each other's keys (the newest stays active everywhere).
        if (key.created_at, key.kid) >= (fresh.created_at, fresh.kid):
            continue
        if not key.retired_at:
            try:
                await ctx.signing_keys.update(replace(key, retired_at=now), revision=revision)
            except ConcurrentUpdate:
                continue
        elif not published(ctx, [key]):
            await ctx.signing_keys.delete(key.kid)
    await load_keys(ctx, force=True)
    log.info("signing_key_rotated", kid=fresh.kid)
    return fresh


async def public_keys(ctx: IdentityContext) -> tuple[list[SigningKey], str]:
    """Published keys (newest first) and the active kid."""
    active = await ensure_signing_key(ctx)
    return published(ctx, await load_keys(ctx)), active.kid


async def verification_keys(ctx: IdentityContext, kid: str) -> dict[str, Ed25519PublicKey]:
    """Public keys that may verify a token signed with `kid` (reloaded, now and then, for an unknown kid)."""
    keys = await load_keys(ctx)
    if (
        all(key.kid != kid for key in keys)
        and ctx.clock() - ctx.key_cache.forced_at >= UNKNOWN_KID_RELOAD_SECONDS
    ):
        ctx.key_cache.forced_at = ctx.clock()
        keys = await load_keys(ctx, force=True)
    return {key.kid: key.public_key for key in published(ctx, keys)}
