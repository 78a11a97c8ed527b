"""Request and response bodies of the OpenAI-compatible routes (`routes_openai`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.entrypoints.schemas.answers import CitationOut
from services.gateway.entrypoints.schemas.common import MAX_QUESTION_CHARS


class ChatContentPart(BaseModel):
    type: str = Field(examples=["text"])
    text: str | None = Field(default=None, max_length=MAX_QUESTION_CHARS * 2)


class ChatMessageIn(BaseModel):
    role: str = Field(
        max_length=32, description="system | user | assistant (khác bị bỏ qua).", examples=["user"]
    )
    content: str | list[ChatContentPart] | None = Field(
        default=None, description="Nội dung văn bản (chuỗi hoặc các phần `type: text`)."
    )
    name: str | None = Field(default=None, max_length=64)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "cuc-bao-chi",
                    "messages": [
                        {"role": "user", "content": "Doanh thu năm 2023 của công ty là bao nhiêu?"},
                        {"role": "assistant", "content": "Doanh thu năm 2023 đạt 1.200 tỷ đồng."},
                        {"role": "user", "content": "còn lợi nhuận thì sao?"},
                    ],
                    "stream": False,
                }
            ]
        }
    )
    model: str = Field(
        min_length=1,
        max_length=64,
        description="Mã đơn vị (mỗi đơn vị là một “mô hình”).",
        examples=["cuc-bao-chi"],
    )
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=100)
    stream: bool | None = Field(default=False, description="true: trả về từng phần qua Server-Sent Events.")
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str = Field(examples=["Lợi nhuận năm 2023 đạt 150 tỷ đồng."])
    refusal: None = None
    citations: list[CitationOut] = Field(
        default_factory=list, description="Phần mở rộng của trolyao: nguồn trích dẫn của câu trả lời."
    )


class ChatChoiceOut(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class UsageOut(BaseModel):
    prompt_tokens: int = Field(examples=[24])
    completion_tokens: int = Field(examples=[12])
    total_tokens: int = Field(examples=[36])


class TrolyaoExtension(BaseModel):
    answered: bool = Field(description="false: trợ lý từ chối trả lời vì chưa có thông tin.")
    confidence: float = Field(ge=0.0, le=1.0, examples=[0.87])
    answer_source: str = Field(examples=["extractive"])
    question_id: str = Field(examples=["4f0c2a9e-2d7b-4e53-9d5e-0c3f1f2b9a10"])


class ChatCompletionOut(BaseModel):
    id: str = Field(examples=["chatcmpl-4f0c2a9e2d7b4e539d5e0c3f1f2b9a10"])
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(examples=[1732694400])
    model: str = Field(examples=["cuc-bao-chi"])
    choices: list[ChatChoiceOut]
    usage: UsageOut
    system_fingerprint: str | None = None
    trolyao: TrolyaoExtension = Field(
        description="Phần mở rộng: trạng thái trả lời và mã câu hỏi (để đánh giá)."
    )


class ModelOut(BaseModel):
    id: str = Field(examples=["cuc-bao-chi"])
    object: Literal["model"] = "model"
    created: int = Field(examples=[1732694400])
    owned_by: str = Field(examples=["trolyao"])
    name: str = Field(default="", description="Tên đơn vị.", examples=["Cục Báo chí"])


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]
