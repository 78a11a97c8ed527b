"""The permission table itself (trolyao/natsaccess.py): what each NATS identity is granted."""

from __future__ import annotations

from services.ops.identity.adapters.security_layout import AUDIT_STREAM, SECURITY_BUCKETS
from trolyao.messaging import API_KEYS_BUCKET, RETRIEVAL_REGISTRY_BUCKET, JetStreamLayout
from trolyao.natsaccess import (
    GATEWAY,
    INGEST,
    OPS,
    OPS_AUDIT_STREAM,
    OPS_SECURITY_BUCKETS,
    RETRIEVAL,
    SERVICE_ACCESS,
    Grant,
    inbox_prefix,
    kv_stream,
    object_stream,
    service_grant,
    unit_grant,
    unit_originals_bucket,
)


def test_ops_buckets_are_the_ones_ops_creates() -> None:
    assert set(OPS_SECURITY_BUCKETS) == set(SECURITY_BUCKETS)
    assert OPS_AUDIT_STREAM == AUDIT_STREAM


def test_every_stream_and_bucket_of_the_layout_is_managed_by_ops() -> None:
    layout = JetStreamLayout()
    wanted = {config.name for config in layout.streams()}
    wanted |= {kv_stream(config.bucket or "") for config in layout.key_value_buckets()}
    wanted |= {object_stream(config.bucket or "") for config in layout.object_stores()}
    assert wanted <= SERVICE_ACCESS[OPS].stream_names()


def test_only_ops_touches_api_keys_and_accounts() -> None:
    for identity in (GATEWAY, INGEST):
        grant = " ".join(service_grant(identity).publish)
        assert API_KEYS_BUCKET not in grant
        assert not any(bucket in grant for bucket in OPS_SECURITY_BUCKETS)
        assert "$JS.API.STREAM.DELETE.>" in service_grant(identity).publish_deny


def test_the_retrieval_registry_is_retrievals_and_ops_only() -> None:
    """Retrieval's NATS identity reaches its registry bucket and nothing else; ops manages it too."""
    holders = {
        name
        for name, access in SERVICE_ACCESS.items()
        if RETRIEVAL_REGISTRY_BUCKET in access.key_value_buckets
    }
    assert holders == {RETRIEVAL, OPS}
    grant = service_grant(RETRIEVAL)
    assert SERVICE_ACCESS[RETRIEVAL].stream_names() == {kv_stream(RETRIEVAL_REGISTRY_BUCKET)}
    assert not [
        s for s in grant.publish if s.startswith(("$KV.", "$O.")) and RETRIEVAL_REGISTRY_BUCKET not in s
    ]
    assert grant.subscribe == (f"{inbox_prefix(RETRIEVAL)}.>",)
    assert "$JS.API.STREAM.DELETE.>" in grant.publish_deny


def test_a_unit_grant_reaches_only_its_own_subjects_bucket_and_inbox() -> None:
    grant = unit_grant("cuc-bao-chi", "unit-cuc-bao-chi-1")
    assert grant.subscribe == (f"{inbox_prefix('unit-cuc-bao-chi-1')}.>",)
    stream = object_stream(unit_originals_bucket("cuc-bao-chi"))
    for subject in grant.publish:
        assert (
            subject == "docs.cuc-bao-chi.>"
            or subject.startswith(f"$O.{unit_originals_bucket('cuc-bao-chi')}.")
            or (subject.startswith("$JS.API.") and stream in subject.split("."))
        ), subject
        assert "*" not in subject
    assert not grant.allow_responses


def test_ingest_reads_unit_buckets_only_when_they_exist() -> None:
    bucket = unit_originals_bucket("so-tt")
    assert not any(object_stream(bucket) in subject for subject in service_grant(INGEST).publish)
    granted = service_grant(INGEST, unit_buckets=[bucket]).publish
    assert f"$JS.API.CONSUMER.CREATE.{object_stream(bucket)}.>" in granted
    assert not any(object_stream(bucket) in subject for subject in service_grant(GATEWAY).publish)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more at the end."""
    wanted, given = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(given) > index
        if index >= len(given) or (token != "*" and token != given[index]):
            return False
    return len(wanted) == len(given)


def allowed(grant: Grant, subject: str) -> bool:
    return any(subject_matches(p, subject) for p in grant.publish) and not any(
        subject_matches(p, subject) for p in grant.publish_deny
    )


def test_no_service_reaches_another_stream_through_a_consumer_named_like_its_own() -> None:
    for identity in (GATEWAY, INGEST):
        grant = service_grant(identity, unit_buckets=[unit_originals_bucket("so-tt")])
        for own in SERVICE_ACCESS[identity].stream_names():
            for verb in ("CREATE", "INFO", "DELETE", "DURABLE.CREATE", "MSG.NEXT"):
                subject = f"$JS.API.CONSUMER.{verb}.{kv_stream(API_KEYS_BUCKET)}.{own}"
                assert not allowed(grant, subject), (identity, subject)
                assert not allowed(grant, subject + ".filter"), (identity, subject)
        assert not allowed(grant, f"$JS.API.DIRECT.GET.{kv_stream(API_KEYS_BUCKET)}")
        assert not allowed(grant, f"$KV.{API_KEYS_BUCKET}.forged")
        assert not allowed(grant, "$JS.API.STREAM.DELETE.DOCS")
    assert allowed(service_grant(INGEST), "$JS.API.CONSUMER.MSG.NEXT.DOCS.ingest")
    assert allowed(service_grant(GATEWAY), "$JS.API.STREAM.MSG.GET.QUESTIONS")
