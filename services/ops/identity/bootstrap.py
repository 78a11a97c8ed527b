"""Composition of the identity context: its buckets, repositories, secret box and use cases.

Used by the ops service's bootstrap and by the admin CLI (which needs only the handlers).
"""

from __future__ import annotations

from nats.js import JetStreamContext

from services.ops.identity.adapters.audit_stream import AuditTrail
from services.ops.identity.adapters.kv_repositories import UnitRepository
from services.ops.identity.adapters.secret_key import load_secret_box
from services.ops.identity.adapters.security_layout import (
    ACCOUNTS_BUCKET,
    CHALLENGES_BUCKET,
    SECURITY_POLICY_BUCKET,
    SESSIONS_BUCKET,
    SIGNING_KEYS_BUCKET,
    THROTTLE_BUCKET,
    ensure_security_layout,
)
from services.ops.identity.adapters.security_repositories import (
    AccountRepository,
    ChallengeRepository,
    SecurityPolicyRepository,
    SessionRepository,
    SigningKeyRepository,
    ThrottleRepository,
)
from services.ops.identity.domain.accounts import PasswordHashing
from services.ops.identity.domain.clock import Clock, system_clock
from services.ops.identity.domain.throttling import ThrottlePolicy
from services.ops.identity.domain.tokens import TokenSettings
from services.ops.identity.use_cases.context import IdentityContext, SecurityConfig
from services.ops.identity.use_cases.security import SecurityHandlers
from services.ops.settings import SECONDS_PER_DAY, OpsSettings
from trolyao.messaging import UNITS_BUCKET


def security_config(settings: OpsSettings) -> SecurityConfig:
    """The security domain's knobs, from the service settings."""
    return SecurityConfig(
        tokens=TokenSettings(
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            access_ttl_seconds=settings.access_token_ttl_seconds,
            refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
            leeway_seconds=settings.token_leeway_seconds,
        ),
        throttle=ThrottlePolicy(
            account_threshold=settings.lockout_account_threshold,
            address_threshold=settings.lockout_address_threshold,
            window_seconds=settings.lockout_window_seconds,
            lockout_seconds=settings.lockout_seconds,
        ),
        otp_issuer=settings.otp_issuer,
        challenge_ttl_seconds=settings.login_challenge_ttl_seconds,
        challenge_max_attempts=settings.login_challenge_max_attempts,
        step_up_max_age_seconds=settings.step_up_max_age_seconds,
        signing_key_rotation_seconds=settings.signing_key_rotation_days * SECONDS_PER_DAY,
    )


async def build_security_handlers(
    js: JetStreamContext, settings: OpsSettings, *, clock: Clock = system_clock
) -> SecurityHandlers:
    """Accounts, OTP, tokens and audit over their buckets and stream (also used by the admin CLI)."""
    await ensure_security_layout(js, replicas=settings.jetstream_replicas)
    box = load_secret_box(
        secret_key=settings.secret_key.get_secret_value(),
        previous_keys=settings.previous_secret_keys.get_secret_value(),
        data_dir=settings.data_dir,
    )
    context = IdentityContext(
        accounts=AccountRepository(await js.key_value(ACCOUNTS_BUCKET)),
        sessions=SessionRepository(await js.key_value(SESSIONS_BUCKET)),
        challenges=ChallengeRepository(await js.key_value(CHALLENGES_BUCKET)),
        throttle=ThrottleRepository(await js.key_value(THROTTLE_BUCKET)),
        signing_keys=SigningKeyRepository(await js.key_value(SIGNING_KEYS_BUCKET), box),
        policy=SecurityPolicyRepository(await js.key_value(SECURITY_POLICY_BUCKET)),
        audit=AuditTrail(js),
        units=UnitRepository(await js.key_value(UNITS_BUCKET)),
        passwords=PasswordHashing(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        box=box,
        config=security_config(settings),
        clock=clock,
    )
    handlers = SecurityHandlers(context)
    await handlers.ensure_signing_key()
    return handlers
