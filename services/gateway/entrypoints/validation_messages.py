"""Request validation errors in Vietnamese: pydantic's error types (its stable machine names), each
with a Vietnamese sentence; pydantic's English text never reaches a caller."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LOCATION_NAMES = {"body": "nội dung", "query": "tham số truy vấn", "path": "đường dẫn", "header": "tiêu đề"}


def _ctx(error: Mapping[str, Any], name: str) -> str:
    return str((error.get("ctx") or {}).get(name, ""))


_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda e: "thiếu trường bắt buộc",
    "extra_forbidden": lambda e: "trường không được hỗ trợ",
    "string_type": lambda e: "phải là chuỗi ký tự",
    "string_too_short": lambda e: f"cần ít nhất {_ctx(e, 'min_length')} ký tự",
    "string_too_long": lambda e: f"dài quá {_ctx(e, 'max_length')} ký tự",
    "string_pattern_mismatch": lambda e: "không đúng định dạng",
    "string_unicode": lambda e: "không phải văn bản UTF-8 hợp lệ",
    "int_type": lambda e: "phải là số nguyên",
    "int_parsing": lambda e: "phải là số nguyên",
    "int_from_float": lambda e: "phải là số nguyên",
    "float_type": lambda e: "phải là số",
    "float_parsing": lambda e: "phải là số",
    "bool_type": lambda e: "phải là true hoặc false",
    "bool_parsing": lambda e: "phải là true hoặc false",
    "greater_than": lambda e: f"phải lớn hơn {_ctx(e, 'gt')}",
    "greater_than_equal": lambda e: f"phải lớn hơn hoặc bằng {_ctx(e, 'ge')}",
    "less_than": lambda e: f"phải nhỏ hơn {_ctx(e, 'lt')}",
    "less_than_equal": lambda e: f"phải nhỏ hơn hoặc bằng {_ctx(e, 'le')}",
    "too_short": lambda e: f"cần ít nhất {_ctx(e, 'min_length')} phần tử",
    "too_long": lambda e: f"nhiều quá {_ctx(e, 'max_length')} phần tử",
    "list_type": lambda e: "phải là danh sách",
    "dict_type": lambda e: "phải là đối tượng JSON",
    "model_attributes_type": lambda e: "phải là đối tượng JSON",
    "model_type": lambda e: "phải là đối tượng JSON",
    "json_invalid": lambda e: "không phải JSON hợp lệ",
    "json_type": lambda e: "không phải JSON hợp lệ",
    "literal_error": lambda e: f"phải là một trong các giá trị {_ctx(e, 'expected')}",
    "enum": lambda e: f"phải là một trong các giá trị {_ctx(e, 'expected')}",
    "url_parsing": lambda e: "không phải địa chỉ URL hợp lệ",
    "url_scheme": lambda e: "không phải địa chỉ URL hợp lệ",
    "date_from_datetime_parsing": lambda e: "không phải ngày hợp lệ (YYYY-MM-DD)",
    "date_parsing": lambda e: "không phải ngày hợp lệ (YYYY-MM-DD)",
}
FALLBACK = "giá trị không hợp lệ"


def location_text(loc: tuple[Any, ...] | list[Any]) -> str:
    """`body.question` → `nội dung: question`; list indexes stay numbers."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in LOCATION_NAMES:
        head, rest = LOCATION_NAMES[parts[0]], parts[1:]
        return f"{head} {'.'.join(rest)}".strip() if rest else head
    return ".".join(parts)


def vietnamese_message(error: Mapping[str, Any]) -> str:
    """One validation error as `<where>: <what>` in Vietnamese.

    A custom validator's own message (`value_error`, `assertion_error`) is kept when it is written
    in Vietnamese here, i.e. when the gateway's own validators raise it; otherwise the fallback.
    """
    kind = str(error.get("type", ""))
    if kind in ("value_error", "assertion_error"):
        raised = (error.get("ctx") or {}).get("error")
        what = str(raised) if raised is not None and _looks_vietnamese(str(raised)) else FALLBACK
    else:
        message = _MESSAGES.get(kind)
        what = message(error) if message is not None else FALLBACK
    return f"{location_text(error.get('loc', ()))}: {what}"


def _looks_vietnamese(text: str) -> bool:
    """Vietnamese sentences carry letters outside ASCII; pydantic's English ones do not."""
    return any(ord(char) > 127 for char in text)


__all__ = ["FALLBACK", "location_text", "vietnamese_message"]
