"""The gateway's error vocabulary: stable machine codes, HTTP status, and Vietnamese text.

Every error response is RFC 9457 `application/problem+json` with `code` (stable) and a Vietnamese
`title`/`detail` a portal can show as is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProblemKind:
    code: str
    status: int
    title: str


UNAUTHENTICATED = ProblemKind("unauthenticated", 401, "Chưa xác thực hoặc thông tin xác thực không hợp lệ.")
FORBIDDEN = ProblemKind("forbidden", 403, "Bạn không có quyền thực hiện thao tác này.")
UNIT_NOT_FOUND = ProblemKind("unit_not_found", 404, "Không tìm thấy đơn vị.")
DOCUMENT_NOT_FOUND = ProblemKind("document_not_found", 404, "Không tìm thấy văn bản.")
NOT_FOUND = ProblemKind("not_found", 404, "Không tìm thấy tài nguyên.")
API_KEY_NOT_FOUND = ProblemKind("api_key_not_found", 404, "Không tìm thấy khóa API.")
EVENT_CREDENTIAL_NOT_FOUND = ProblemKind(
    "event_credential_not_found", 404, "Không tìm thấy thông tin xác thực sự kiện."
)
FAQ_NOT_FOUND = ProblemKind("faq_not_found", 404, "Không tìm thấy câu hỏi thường gặp.")
QUESTION_NOT_FOUND = ProblemKind(
    "question_not_found", 404, "Không tìm thấy câu hỏi trong lịch sử của đơn vị."
)
MODEL_NOT_FOUND = ProblemKind("model_not_found", 404, "Không tìm thấy mô hình (mã đơn vị) này.")
METHOD_NOT_ALLOWED = ProblemKind(
    "method_not_allowed", 405, "Phương thức HTTP không được hỗ trợ cho đường dẫn này."
)
NOT_ACCEPTABLE = ProblemKind("not_acceptable", 406, "Không thể trả về định dạng được yêu cầu.")
INVALID_REQUEST = ProblemKind("invalid_request", 422, "Yêu cầu không hợp lệ.")
PAYLOAD_TOO_LARGE = ProblemKind("payload_too_large", 413, "Tệp hoặc nội dung gửi lên quá lớn.")
UNSUPPORTED_MEDIA = ProblemKind("unsupported_media_type", 415, "Định dạng nội dung không được hỗ trợ.")
CONFLICT = ProblemKind("conflict", 409, "Dữ liệu đã bị thay đổi đồng thời, vui lòng thử lại.")
STALE_VERSION = ProblemKind("stale_version", 409, "Đã có phiên bản mới hơn của văn bản này.")
RATE_LIMITED = ProblemKind("rate_limited", 429, "Bạn gửi quá nhiều yêu cầu, vui lòng thử lại sau.")
BULK_BACKLOG_FULL = ProblemKind(
    "bulk_backlog_full", 429, "Hàng đợi nhập hàng loạt của đơn vị đã đầy, vui lòng gửi lại sau."
)
DEPENDENCY_UNAVAILABLE = ProblemKind(
    "dependency_unavailable", 503, "Hệ thống tạm thời không phục vụ được, vui lòng thử lại sau."
)
INTERNAL = ProblemKind("internal_error", 500, "Đã xảy ra lỗi không mong muốn.")


# Accounts, OTP login and tokens (issue 5). One login failure message whatever the cause.
LOGIN_FAILED = ProblemKind("login_failed", 401, "Tên đăng nhập, mật khẩu hoặc mã xác thực không đúng.")
LOCKED_OUT = ProblemKind("locked_out", 429, "Tạm khóa đăng nhập do nhập sai nhiều lần, vui lòng thử lại sau.")
STEP_UP_REQUIRED = ProblemKind("step_up_required", 401, "Thao tác này cần xác nhận lại bằng mã OTP.")
SESSION_ENDED = ProblemKind("session_ended", 401, "Phiên đăng nhập đã kết thúc, vui lòng đăng nhập lại.")
ACCOUNT_NOT_FOUND = ProblemKind("account_not_found", 404, "Không tìm thấy tài khoản.")
ACCOUNT_EXISTS = ProblemKind("account_exists", 409, "Tên đăng nhập đã được sử dụng.")


class ApiProblem(Exception):
    """Raised anywhere in the gateway; rendered once by the app's exception handler."""

    def __init__(self, kind: ProblemKind, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(kind.code)
        self.kind = kind
        self.detail = detail or kind.title
        self.headers = headers or {}
