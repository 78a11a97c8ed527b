"""`Generator` over an OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, TGI, llama.cpp, Ollama).

The optional generative mode (`TROLYAO_RETRIEVAL_GENERATOR=openai`). The prompt asks the model to
quote the numbered passages verbatim and cite every sentence; `domain.generation` checks that it did
and keeps the extractive answer otherwise, so this adapter only transports text. Temperature 0: the
same passages give the same answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from services.retrieval.adapters.openai_http import bearer_client, endpoint_url
from services.retrieval.domain.composer import ANSWER_MAX_CHARS
from services.retrieval.domain.generation import ABSTENTION_TOKEN
from services.retrieval.domain.model import GenerationPassage

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 8.0
# Vietnamese costs about one token per 2-3 characters in common tokenizers; the answer budget is
# 1,000 characters, and a longer reply is rejected anyway.
DEFAULT_MAX_TOKENS = 800

SYSTEM_PROMPT = (
    "Bạn là trợ lý ảo của một đơn vị thuộc Bộ. Chỉ trả lời bằng cách trích nguyên văn các câu trong "
    "các đoạn trích được đánh số mà người dùng cung cấp; không thêm thông tin, không suy diễn, không "
    "dùng hiểu biết bên ngoài các đoạn trích. Ghi số của đoạn trích chứa câu đó trong ngoặc vuông ngay "
    "sau mỗi câu, ví dụ [1] hoặc [2]. Trả lời bằng tiếng Việt, ngắn gọn, không quá {max_chars} ký tự. "
    "Nếu các đoạn trích không trả lời được câu hỏi, chỉ trả lời đúng một cụm: {token}"
)


class GenerationServiceError(RuntimeError):
    """The chat endpoint failed or answered something unusable."""


def passage_block(passage: GenerationPassage) -> str:
    """One numbered passage as the model reads it: `[n] «title» (number, path)` then its text."""
    where = ", ".join(part for part in (passage.document_number, passage.path) if part)
    heading = f"[{passage.number}]"
    if passage.title:
        heading += f" «{passage.title}»"
    if where:
        heading += f" ({where})"
    return f"{heading}\n{passage.text}"


def user_message(question: str, passages: Sequence[GenerationPassage]) -> str:
    """The question and the numbered passages, in one user turn."""
    blocks = "\n\n".join(passage_block(passage) for passage in passages)
    return f"Câu hỏi: {question}\n\nCác đoạn trích:\n\n{blocks}"


class OpenAICompatibleGenerator:
    """Answers from numbered passages through a `/v1/chat/completions` endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        answer_max_chars: int = ANSWER_MAX_CHARS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`base_url` is the server root or its `/v1`; `api_key` is sent as a bearer token when set."""
        self._url = endpoint_url(base_url, "chat/completions")
        self._model = model
        self._max_tokens = max_tokens
        self._system_prompt = SYSTEM_PROMPT.format(max_chars=answer_max_chars, token=ABSTENTION_TOKEN)
        self._client = bearer_client(api_key, timeout=timeout, transport=transport)

    @property
    def model_id(self) -> str:
        """`openai-compatible/<model>`."""
        return f"openai-compatible/{self._model}"

    def generate(self, question: str, passages: Sequence[GenerationPassage]) -> str:
        """The model's reply (unchecked: the domain checks it). Raises `GenerationServiceError`."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": self._system_prompt},
                {"role": "user", "content": user_message(question, passages)},
            ],
            "temperature": 0,
            "max_tokens": self._max_tokens,
            "stream": False,
        }
        try:
            response = self._client.post(self._url, json=body)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as error:
            logger.warning(
                "generator.request_failed",
                extra={"url": self._url, "error_type": type(error).__name__, "error": str(error)},
            )
            raise GenerationServiceError(f"{type(error).__name__}: {error}") from error
        if not isinstance(content, str):
            raise GenerationServiceError("the reply has no text content")
        return content

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


__all__ = ["SYSTEM_PROMPT", "GenerationServiceError", "OpenAICompatibleGenerator", "user_message"]
