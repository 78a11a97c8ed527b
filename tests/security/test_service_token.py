"""gRPC between services as an attacker who reaches retrieval's or ops' port: every call without the
service token, or with another, is refused (UNAUTHENTICATED) before any handler runs; health
checks stay open. Against the embedded stack exactly as `make run` starts it."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stack.launcher import Stack
from tests.support import unique_unit
from trolyao.rpc import require_token_beyond_loopback, sync_channel
from trolyao.v1 import ops_pb2, ops_pb2_grpc, retrieval_pb2, retrieval_pb2_grpc

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

CALL_TIMEOUT_SECONDS = 10.0
WRONG_TOKEN = "not-the-service-token"


def refused(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()  # type: ignore[no-any-return]


@pytest.mark.parametrize("token", ["", WRONG_TOKEN], ids=["no-token", "wrong-token"])
def test_retrieval_refuses_calls_without_the_service_token(running_stack: Stack, token: str) -> None:
    stub = retrieval_pb2_grpc.RetrievalServiceStub(
        sync_channel(f"127.0.0.1:{running_stack.ports.retrieval}", service_token=token)
    )
    unit = unique_unit("grpc")
    index = retrieval_pb2.IndexDocumentRequest(unit=unit, document_id="gia-mao", version=1)
    assert refused(lambda: stub.IndexDocument(index, timeout=CALL_TIMEOUT_SECONDS)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )

    def export() -> object:
        return list(stub.ExportUnit(retrieval_pb2.ExportUnitRequest(unit=unit), timeout=CALL_TIMEOUT_SECONDS))

    assert refused(export) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("token", ["", WRONG_TOKEN], ids=["no-token", "wrong-token"])
def test_ops_refuses_calls_without_the_service_token(running_stack: Stack, token: str) -> None:
    stub = ops_pb2_grpc.OpsServiceStub(
        sync_channel(f"127.0.0.1:{running_stack.ports.ops}", service_token=token)
    )
    assert refused(lambda: stub.ListUnits(ops_pb2.ListUnitsRequest(), timeout=CALL_TIMEOUT_SECONDS)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


def test_the_service_token_is_accepted(running_stack: Stack) -> None:
    channel = sync_channel(f"127.0.0.1:{running_stack.ports.ops}", service_token=running_stack.service_token)
    units = ops_pb2_grpc.OpsServiceStub(channel).ListUnits(
        ops_pb2.ListUnitsRequest(), timeout=CALL_TIMEOUT_SECONDS
    )
    assert isinstance(units, ops_pb2.ListUnitsResponse)


@pytest.mark.parametrize("service", ["retrieval", "ops"])
def test_health_checks_stay_open(running_stack: Stack, service: str) -> None:
    port = running_stack.ports.retrieval if service == "retrieval" else running_stack.ports.ops
    reply = health_pb2_grpc.HealthStub(sync_channel(f"127.0.0.1:{port}")).Check(
        health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_SECONDS
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "[::]:50052", "10.0.0.5:50051"])
def test_a_server_beyond_loopback_needs_a_token(listen: str) -> None:
    with pytest.raises(ValueError, match="TROLYAO_SERVICE_TOKEN"):
        require_token_beyond_loopback(listen, "")
    require_token_beyond_loopback(listen, "a-token")
    require_token_beyond_loopback("127.0.0.1:0", "")
