"""Composition root of the ops service."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from services.ops.adapters.audit_stream import AuditTrail
from services.ops.adapters.kv_repositories import ApiKeyRepository, UnitRepository
from services.ops.adapters.secret_key import load_secret_box
from services.ops.adapters.security_layout import (
    ACCOUNTS_BUCKET,
    CHALLENGES_BUCKET,
    SECURITY_POLICY_BUCKET,
    SESSIONS_BUCKET,
    SIGNING_KEYS_BUCKET,
    THROTTLE_BUCKET,
    ensure_security_layout,
)
from services.ops.adapters.security_repositories import (
    AccountRepository,
    ChallengeRepository,
    SecurityPolicyRepository,
    SessionRepository,
    SigningKeyRepository,
    ThrottleRepository,
)
from services.ops.domain.accounts import PasswordHashing
from services.ops.domain.clock import Clock, system_clock
from services.ops.domain.throttling import ThrottlePolicy
from services.ops.domain.tokens import TokenSettings
from services.ops.entrypoints.grpc_server import OpsServicer
from services.ops.security_service import SecurityConfig, SecurityHandlers
from services.ops.service import OpsHandlers
from services.ops.settings import SECONDS_PER_DAY, OpsSettings
from services.ops.snapshot_bootstrap import SNAPSHOT_SERVICE_NAME, SnapshotRuntime, build_snapshot_runtime
from services.ops.snapshot_settings import SnapshotSettings
from trolyao.messaging import API_KEYS_BUCKET, UNITS_BUCKET, JetStreamLayout, connect, ensure_layout
from trolyao.rpc import build_async_server
from trolyao.v1 import ops_pb2, ops_pb2_grpc

SERVICE_NAME = ops_pb2.DESCRIPTOR.services_by_name["OpsService"].full_name


@dataclass
class OpsApp:
    settings: OpsSettings
    nats: NatsClient
    handlers: OpsHandlers
    server: grpc.aio.Server
    port: int
    security: SecurityHandlers | None = None
    snapshots: SnapshotRuntime | None = None

    async def stop(self, grace: float = 2.0) -> None:
        if self.snapshots is not None:
            await self.snapshots.stop()
        await self.server.stop(grace)
        await self.nats.drain()


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
    handlers = SecurityHandlers(
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
    await handlers.ensure_signing_key()
    return handlers


async def bootstrap(settings: OpsSettings, *, clock: Clock = system_clock) -> OpsApp:
    nats_client = await connect(settings.nats_url, name="ops", credential=settings.nats_credential())
    js = nats_client.jetstream()
    await ensure_layout(js, JetStreamLayout(replicas=settings.jetstream_replicas))
    security = await build_security_handlers(js, settings, clock=clock)
    handlers = OpsHandlers(
        units=UnitRepository(await js.key_value(UNITS_BUCKET)),
        api_keys=ApiKeyRepository(await js.key_value(API_KEYS_BUCKET)),
    )
    await handlers.seed_units(settings.units_file)
    servicer = OpsServicer(handlers, security=security)
    snapshots = await build_snapshot_runtime(nats_client, js, SnapshotSettings(), security=security)

    def register(server: grpc.aio.Server) -> None:
        ops_pb2_grpc.add_OpsServiceServicer_to_server(servicer, server)
        snapshots.register(server)

    server, _health, port = await build_async_server(
        listen=settings.listen,
        register=register,
        service_names=[SERVICE_NAME, SNAPSHOT_SERVICE_NAME],
        service_token=settings.service_token.get_secret_value(),
    )
    await server.start()
    snapshots.start()
    return OpsApp(
        settings=settings,
        nats=nats_client,
        handlers=handlers,
        server=server,
        port=port,
        security=security,
        snapshots=snapshots,
    )
