"""What the routes for people's accounts share (`routes_login`, `routes_accounts`, `routes_audit`).

Those routes only turn HTTP into ops calls: ops decides (and re-verifies the caller's token, role and
step-up itself); the gateway checks role and step-up first only to answer early and clearly.
Account and audit routes take people's access tokens, never API keys.
"""

from dataclasses import dataclass

from fastapi import Request, Response

from services.gateway.adapters.access_tokens import (
    DEFAULT_STEP_UP_MAX_AGE_SECONDS,
    AccessTokenVerifier,
    require_fresh_otp,
)
from services.gateway.adapters.backends import Backends
from services.gateway.domain.authorization import Principal
from services.gateway.domain.problems import FORBIDDEN, UNAUTHENTICATED, ApiProblem
from services.gateway.entrypoints.routing import client_address
from trolyao.v1 import ops_pb2

MINISTRY_ADMIN = "ministry_admin"
ACCOUNT_ADMIN_ROLES = frozenset({"ministry_admin", "unit_admin"})
NO_STORE = "no-store"
JWT_DOTS = 2


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """A person's verified access token, and where the request came from."""

    principal: Principal
    token: str
    client_address: str

    def caller(self) -> ops_pb2.Caller:
        return ops_pb2.Caller(access_token=self.token, client_address=self.client_address)


def no_store(response: Response) -> None:
    """Tokens, secrets, recovery codes and initial passwords must not be cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Pragma"] = "no-cache"


def bearer(request: Request) -> str | None:
    """The bearer credential of the request, if it carries one."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


@dataclass(frozen=True, slots=True)
class AccountRouteContext:
    """Handed to every account route module by `create_app`.

    `tokens` is the app's verifier, so that these routes and `current_principal` share one key cache.
    """

    backends: Backends
    tokens: AccessTokenVerifier
    step_up_max_age_seconds: int = DEFAULT_STEP_UP_MAX_AGE_SECONDS

    @property
    def timeout(self) -> float:
        return self.backends.timeout

    async def current_user(self, request: Request) -> AuthenticatedUser:
        """The dependency of routes that need a person's access token (an API key is refused)."""
        token = bearer(request)
        if token is None:
            raise ApiProblem(UNAUTHENTICATED, "Thiếu tiêu đề Authorization: Bearer <token truy cập>.")
        if token.count(".") != JWT_DOTS:
            raise ApiProblem(
                UNAUTHENTICATED,
                "Thao tác này cần đăng nhập bằng tài khoản (token truy cập), không dùng khóa API.",
            )
        principal = await self.tokens.verify(token)
        return AuthenticatedUser(principal=principal, token=token, client_address=client_address(request))

    async def optional_user(self, request: Request) -> AuthenticatedUser | None:
        """The signed-in person when the request carries a credential, else None."""
        return await self.current_user(request) if bearer(request) else None

    def fresh_otp(self, user: AuthenticatedUser) -> None:
        require_fresh_otp(
            user.principal, max_age_seconds=self.step_up_max_age_seconds, now=self.tokens.clock()
        )

    def require_account_admin(self, user: AuthenticatedUser) -> None:
        if user.principal.role not in ACCOUNT_ADMIN_ROLES:
            raise ApiProblem(FORBIDDEN, "Chỉ quản trị cấp Bộ hoặc quản trị đơn vị được quản lý tài khoản.")

    def require_ministry_admin(self, user: AuthenticatedUser) -> None:
        if user.principal.role != MINISTRY_ADMIN:
            raise ApiProblem(FORBIDDEN, "Chỉ quản trị cấp Bộ được thực hiện thao tác này.")


__all__ = ["AccountRouteContext", "AuthenticatedUser", "bearer", "no_store"]
