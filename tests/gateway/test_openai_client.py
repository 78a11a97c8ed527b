"""The official `openai` client, unchanged, pointed at the gateway: streamed and not, with citations."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from tests.gateway.conftest import KnowledgeUnit

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

TRANSCRIPT = [
    {"role": "system", "content": "Bạn là trợ lý ảo của đơn vị."},
    {"role": "user", "content": "Doanh thu năm 2023 của công ty là bao nhiêu?"},
    {"role": "assistant", "content": "Doanh thu năm 2023 của công ty đạt 1.200 tỷ đồng."},
    {"role": "user", "content": "còn lợi nhuận thì sao?"},
]


def client_for(gateway_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{gateway_url}/v1", max_retries=0, timeout=60.0)


def test_non_streamed_completion_with_citations(gateway_url: str, knowledge_unit: KnowledgeUnit) -> None:
    client = client_for(gateway_url, knowledge_unit.read_key)
    completion = client.chat.completions.create(model=knowledge_unit.unit, messages=TRANSCRIPT)  # type: ignore[arg-type]
    message = completion.choices[0].message
    assert completion.model == knowledge_unit.unit
    assert completion.choices[0].finish_reason == "stop"
    assert "150 tỷ" in (message.content or "")
    citations = (message.model_extra or {})["citations"]
    assert citations[0]["document_id"] == knowledge_unit.document_id
    assert citations[0]["snippet"]
    extension = (completion.model_extra or {})["trolyao"]
    assert extension["answered"] is True and extension["question_id"]
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_streamed_completion_with_citations(gateway_url: str, knowledge_unit: KnowledgeUnit) -> None:
    client = client_for(gateway_url, knowledge_unit.read_key)
    stream = client.chat.completions.create(
        model=knowledge_unit.unit,
        messages=[
            {"role": "user", "content": "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?"}
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, citations, finish, usage = "", [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            citations += (choice.delta.model_extra or {}).get("citations", [])
            finish = choice.finish_reason or finish
    assert "30 ngày" in text
    assert finish == "stop"
    assert citations and citations[0]["document_id"] == knowledge_unit.document_id
    assert usage is not None and usage.completion_tokens > 0


def test_models_are_the_callers_units_and_other_units_are_refused(
    gateway_url: str, knowledge_unit: KnowledgeUnit, new_unit: Callable[[str], str]
) -> None:
    client = client_for(gateway_url, knowledge_unit.read_key)
    assert [model.id for model in client.models.list()] == [knowledge_unit.unit]
    assert client.models.retrieve(knowledge_unit.unit).id == knowledge_unit.unit
    other = new_unit("other")
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model=other, messages=[{"role": "user", "content": "xin chào"}])
    assert refused.value.status_code == 403
    assert "không được cấp quyền" in refused.value.message
