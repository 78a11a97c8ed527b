"""Typed settings of the ops service (env prefix TROLYAO_OPS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from trolyao.settings import CommonSettings, metrics_port_field

SECONDS_PER_DAY = 86_400


class OpsSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TROLYAO_OPS_", extra="ignore")

    telemetry_metrics_port: int = metrics_port_field("ops")  # snapshot age, among others

    listen: str = Field(default="127.0.0.1:50052", description="gRPC listen address.")
    units_file: Path = Field(
        default=Path("config/units.yaml"), description="The ministry's units, seeded at start."
    )
    nats_auth_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of the NATS identities' secrets and the units' event-credential registry (the "
            "embedded stack: <data dir>/nats-auth). Unset: units' event credentials are issued only "
            "with the admin CLI (`trolyao event-credentials`), and the API answers 503."
        ),
    )
    nats_config_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of the running nats-server's `auth.conf` (rewritten on every issue or revocation) "
            "and `nats-server.pid` (signalled to reload it); the embedded stack: <data dir>/nats."
        ),
    )

    # ---- accounts, OTP, tokens, lockout (issue 5) ----
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "TROLYAO_OPS_SECRET_KEY: 32 bytes (64 hex chars or URL-safe base64) that encrypt TOTP secrets "
            "and signing keys at rest. Set it in production (from a secret store, never in a bucket); "
            "when empty, a key is made once in <data dir>/ops-secret-key (mode 0600) with a warning."
        ),
    )
    previous_secret_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated earlier secret keys, still accepted for opening values (key rotation).",
    )
    argon2_time_cost: int = Field(default=3, ge=1, description="Argon2id passes (RFC 9106 low-memory: 3).")
    argon2_memory_kib: int = Field(default=65_536, ge=8, description="Argon2id memory in KiB (64 MiB).")
    argon2_parallelism: int = Field(default=4, ge=1, description="Argon2id lanes.")
    access_token_ttl_seconds: int = Field(default=600, ge=30, le=3_600, description="Access token lifetime.")
    refresh_token_ttl_seconds: int = Field(
        default=12 * 3_600, ge=300, le=30 * SECONDS_PER_DAY, description="Session (refresh family) lifetime."
    )
    token_issuer: str = Field(default="trolyao-ops", description="`iss` of access tokens.")
    token_audience: str = Field(default="trolyao", description="`aud` of access tokens.")
    token_leeway_seconds: int = Field(
        default=30, ge=0, le=120, description="Clock skew tolerated on `exp`/`iat`."
    )
    signing_key_rotation_days: int = Field(
        default=30, ge=1, description="Age at which the signing key rotates."
    )
    otp_issuer: str = Field(default="TroLyAo", description="Issuer shown in authenticator apps.")
    login_challenge_ttl_seconds: int = Field(
        default=300, ge=30, le=1_800, description="Time to enter the code."
    )
    login_challenge_max_attempts: int = Field(default=5, ge=1, description="Codes tried per login challenge.")
    lockout_account_threshold: int = Field(
        default=5, ge=1, description="Failures per account before lockout."
    )
    lockout_address_threshold: int = Field(
        default=50, ge=1, description="Failures per client address before lockout."
    )
    lockout_window_seconds: int = Field(
        default=900, ge=1, description="Window in which failures are counted."
    )
    lockout_seconds: int = Field(
        default=900, ge=1, le=SECONDS_PER_DAY, description="How long a lockout lasts."
    )
    step_up_max_age_seconds: int = Field(
        default=300, ge=30, le=3_600, description="How recent an OTP dangerous operations need."
    )
