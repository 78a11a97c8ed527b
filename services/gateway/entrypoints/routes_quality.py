"""A unit's test questions ("Bộ câu hỏi kiểm tra") and its test runs.

Unit-scoped credentials see only their unit's questions and runs (one `require` per route, unit
from the path). Reading needs `read`; changing questions and starting runs needs `write`.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem
from services.gateway.domain.quality import (
    TEST_QUESTION_ID_PATTERN,
    QuestionResult,
    RunTrigger,
    TestQuestion,
    TestRun,
    count_results,
)
from services.gateway.entrypoints.routing import (
    UNIT_PATH,
    RouteContext,
    client_address,
    problem_responses,
    uploaded_file,
)
from services.gateway.entrypoints.schemas.quality import (
    CitedSourceOut,
    KnowledgeChangeOut,
    PromotedOut,
    PromoteIn,
    RegressionOut,
    RowProblemOut,
    SpotCheckIn,
    SpotCheckOut,
    TestQuestionImportOut,
    TestQuestionIn,
    TestQuestionOut,
    TestQuestionPage,
    TestResultOut,
    TestRunOut,
    TestRunPage,
    TestRunSummaryOut,
)

TAG_QUALITY = "câu hỏi kiểm tra"
MULTIPART = "multipart/form-data"
DEFAULT_PAGE = 50
MAX_PAGE = 500
RATE_DIGITS = 4
RUN_ID_PATTERN = r"^[0-9]{13}-[0-9a-f]{6}$"
IMPORT_FILE_DESCRIPTION = (
    "Tệp .xlsx hoặc .csv; dòng đầu là tiêu đề: Mã, Câu hỏi, Đáp án mong đợi, Văn bản, Điều/Khoản, "
    "Phải từ chối, Không dấu (chỉ cột Câu hỏi là bắt buộc)."
)

QUESTION_PATH = Path(
    pattern=TEST_QUESTION_ID_PATTERN,
    description="Mã câu hỏi kiểm tra do đơn vị đặt (chữ thường không dấu, số, gạch ngang).",
    examples=["tat-song-2g"],
)
RUN_PATH = Path(pattern=RUN_ID_PATTERN, description="Mã lượt kiểm tra.", examples=["1733300000000-a1b2c3"])
OFFSET_QUERY = Query(ge=0, description="Bỏ qua bấy nhiêu mục đầu.", examples=[0])
LIMIT_QUERY = Query(ge=1, le=MAX_PAGE, description="Số mục tối đa mỗi trang.", examples=[50])

_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": IMPORT_FILE_DESCRIPTION,
                        }
                    },
                }
            }
        },
        "required": True,
    }
}


def question_from_body(question_id: str, body: TestQuestionIn) -> TestQuestion:
    """The domain question from its request body."""
    return TestQuestion(
        question_id=question_id,
        question=body.question,
        expected_answer=body.expected_answer,
        expected_document_id=body.expected_document_id,
        expected_section=body.expected_section,
        must_refuse=body.must_refuse,
        ignore_diacritics=body.ignore_diacritics,
    )


def question_out(item: TestQuestion) -> TestQuestionOut:
    """The API view of a test question."""
    return TestQuestionOut(
        question_id=item.question_id,
        question=item.question,
        expected_answer=item.expected_answer,
        expected_document_id=item.expected_document_id,
        expected_section=item.expected_section,
        must_refuse=item.must_refuse,
        ignore_diacritics=item.ignore_diacritics,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def _summary_fields(run: TestRun) -> dict[str, Any]:
    counts = run.counts
    rate = counts.correct_rate
    return {
        "run_id": run.run_id,
        "unit": run.unit,
        "status": run.status.value,
        "trigger": run.trigger.value,
        "started_at": run.started_at,
        "finished_at": run.finished_at or None,
        "question_count": run.question_count,
        "correct_rate": None if rate is None else round(rate, RATE_DIGITS),
        "answerable": counts.answerable,
        "correct": counts.correct,
        "wrong": counts.wrong,
        "refused": counts.refused,
        "too_long": counts.too_long,
        "must_refuse": counts.must_refuse,
        "must_refuse_right": counts.must_refuse_right,
        "regression_count": len(run.regressions),
        "previous_run_id": run.previous_run_id,
        "reason": run.reason,
    }


def run_out(run: TestRun) -> TestRunOut:
    """The API view of a run with every verdict."""
    return TestRunOut(
        **_summary_fields(run),
        regressions=[
            RegressionOut(
                question_id=item.question_id,
                question=item.question,
                previous_verdict=item.previous_verdict.value,
                verdict=item.verdict.value,
                reason=item.reason,
                previous_run_id=item.previous_run_id,
                changes=[
                    KnowledgeChangeOut(
                        document_id=c.document_id, version=c.version, status=c.status, updated_at=c.updated_at
                    )
                    for c in item.changes
                ],
            )
            for item in run.regressions
        ],
        changes=[
            KnowledgeChangeOut(
                document_id=c.document_id, version=c.version, status=c.status, updated_at=c.updated_at
            )
            for c in run.changes
        ],
        results=[result_out(item) for item in run.results],
    )


def result_out(item: QuestionResult) -> TestResultOut:
    """The API view of one judged question."""
    return TestResultOut(
        question_id=item.question_id,
        question=item.question,
        must_refuse=item.must_refuse,
        verdict=item.verdict.value,
        reason=item.reason,
        answered=item.answered,
        answer=item.answer,
        confidence=round(item.confidence, RATE_DIGITS),
        citations=[
            CitedSourceOut(document_id=c.document_id, title=c.title, path=c.path) for c in item.citations
        ],
    )


def build_router(ctx: RouteContext) -> APIRouter:
    """Routes under /v1/units/{unit}/test-questions and /v1/units/{unit}/test-runs."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]
    gateway, require = ctx.gateway, ctx.require
    quality = gateway.quality

    @router.get(
        "/v1/units/{unit}/test-questions",
        response_model=TestQuestionPage,
        tags=[TAG_QUALITY],
        summary="Bộ câu hỏi kiểm tra của đơn vị",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def list_questions(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        offset: Annotated[int, OFFSET_QUERY] = 0,
        limit: Annotated[int, LIMIT_QUERY] = DEFAULT_PAGE,
    ) -> TestQuestionPage:
        """Các câu hỏi kiểm tra của đơn vị theo mã, từng trang (`offset`, `limit`), ví dụ
        `GET /v1/units/cuc-vien-thong/test-questions?limit=50`."""
        require(principal, unit, Scope.READ)
        await gateway.ensure_unit(unit)
        items = await quality.list_questions(unit)
        return TestQuestionPage(
            unit=unit,
            total=len(items),
            offset=offset,
            limit=limit,
            questions=[question_out(item) for item in items[offset : offset + limit]],
        )

    @router.post(
        "/v1/units/{unit}/test-questions/import",
        response_model=TestQuestionImportOut,
        tags=[TAG_QUALITY],
        summary="Nhập câu hỏi kiểm tra từ bảng tính (.xlsx, .csv)",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
        openapi_extra=_IMPORT_BODY,
    )
    async def import_questions(
        request: Request, principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH]
    ) -> TestQuestionImportOut:
        """Nhập bảng tính (multipart, trường `file`): mỗi dòng một câu hỏi. Dòng hợp lệ được lưu (cùng mã
        thì thay thế; không có cột Mã thì mã sinh từ nội dung câu hỏi, nên nhập lại cùng tệp không tạo
        bản trùng), dòng lỗi được báo kèm số dòng và lý do; các dòng hợp lệ được lưu trong một lần ghi
        nên không bao giờ lưu dở dang. Được ghi vào nhật ký kiểm toán."""
        require(principal, unit, Scope.WRITE)
        await gateway.ensure_unit(unit)
        if not request.headers.get("content-type", "").startswith(MULTIPART):
            raise ApiProblem(
                INVALID_REQUEST, "Hãy gửi tệp .xlsx hoặc .csv dạng multipart trong trường 'file'."
            )
        _, upload, data = await uploaded_file(request)
        outcome = await quality.import_questions(
            principal, unit, data, filename=upload.filename or "", client_address=client_address(request)
        )
        return TestQuestionImportOut(
            unit=unit,
            imported=outcome.created + outcome.updated,
            created=outcome.created,
            updated=outcome.updated,
            rejected=len(outcome.problems),
            problems=[RowProblemOut(line=p.line, reason=p.reason) for p in outcome.problems],
        )

    @router.post(
        "/v1/units/{unit}/test-questions/promote",
        response_model=PromotedOut,
        status_code=201,
        tags=[TAG_QUALITY],
        summary="Biến một câu hỏi chưa trả lời được thành câu hỏi thường gặp và câu hỏi kiểm tra",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
    )
    async def promote_question(
        request: Request, principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], body: PromoteIn
    ) -> PromotedOut:
        """Một thao tác cho câu hỏi trong danh sách chưa trả lời được / chưa hữu ích
        (`GET …/reports/unanswered-questions`): câu trả lời cán bộ soạn (cùng các cách hỏi khác, chủ
        đề, căn cứ như `POST …/faq`) trở thành câu hỏi thường gặp
        (lập chỉ mục như văn bản `faq-<mã>`), và câu hỏi trở thành câu hỏi kiểm tra cùng mã, đòi trích
        dẫn câu hỏi thường gặp đó (và chứa `expected_answer` nếu có). Được ghi vào nhật ký kiểm toán."""
        require(principal, unit, Scope.WRITE)
        await gateway.ensure_unit(unit)
        faq, status = await gateway.put_faq(body.to_entry(unit, await gateway.new_faq_id(unit)))
        item, _ = await quality.put_question(
            principal,
            unit,
            TestQuestion(
                question_id=faq.faq_id,
                question=faq.question,
                expected_answer=body.expected_answer,
                expected_document_id=faq.document_id,
            ),
            client_address=client_address(request),
        )
        return PromotedOut(
            faq_id=faq.faq_id,
            document_id=faq.document_id,
            status=status.status,
            test_question=question_out(item),
        )

    @router.get(
        "/v1/units/{unit}/test-questions/{test_question_id}",
        response_model=TestQuestionOut,
        tags=[TAG_QUALITY],
        summary="Xem một câu hỏi kiểm tra",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def get_question(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        test_question_id: Annotated[str, QUESTION_PATH],
    ) -> TestQuestionOut:
        """Câu hỏi và tiêu chí đúng của nó."""
        require(principal, unit, Scope.READ)
        await gateway.ensure_unit(unit)
        return question_out(await quality.get_question(unit, test_question_id))

    @router.put(
        "/v1/units/{unit}/test-questions/{test_question_id}",
        response_model=TestQuestionOut,
        tags=[TAG_QUALITY],
        summary="Tạo hoặc thay thế câu hỏi kiểm tra",
        responses={
            201: {"model": TestQuestionOut, "description": "Câu hỏi mới được tạo."},
            **problem_responses(401, 403, 404, 413, 422, 429, 503),
        },
    )
    async def put_question(
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        test_question_id: Annotated[str, QUESTION_PATH],
        body: TestQuestionIn,
    ) -> TestQuestionOut:
        """Câu hỏi kèm tiêu chí đúng: đáp án mong đợi (câu trả lời phải chứa), và/hoặc văn bản (có thể kèm
        Điều/Khoản) phải được trích dẫn, hoặc `must_refuse: true` cho câu trợ lý phải từ chối. 201 khi
        tạo mới, 200 khi thay thế; được ghi vào nhật ký kiểm toán (`unit.test_question_saved`)."""
        require(principal, unit, Scope.WRITE)
        await gateway.ensure_unit(unit)
        item, created = await quality.put_question(
            principal,
            unit,
            question_from_body(test_question_id, body),
            client_address=client_address(request),
        )
        response.status_code = 201 if created else 200
        return question_out(item)

    @router.delete(
        "/v1/units/{unit}/test-questions/{test_question_id}",
        status_code=204,
        tags=[TAG_QUALITY],
        summary="Xóa câu hỏi kiểm tra",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def delete_question(
        request: Request,
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        test_question_id: Annotated[str, QUESTION_PATH],
    ) -> Response:
        """Xóa câu hỏi khỏi bộ câu hỏi kiểm tra; được ghi vào nhật ký kiểm toán."""
        require(principal, unit, Scope.WRITE)
        await gateway.ensure_unit(unit)
        await quality.delete_question(
            principal, unit, test_question_id, client_address=client_address(request)
        )
        return Response(status_code=204)

    @router.post(
        "/v1/units/{unit}/test-runs",
        response_model=TestRunSummaryOut,
        status_code=202,
        tags=[TAG_QUALITY],
        summary="Chạy bộ câu hỏi kiểm tra",
        responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    )
    async def start_run(
        request: Request, response: Response, principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH]
    ) -> TestRunSummaryOut:
        """Hỏi trợ lý của đơn vị từng câu hỏi kiểm tra, qua đúng đường trả lời người dân dùng (với ngưỡng
        tin cậy riêng của đơn vị), và chấm từng câu: đúng, sai, từ chối, hoặc quá dài (câu trả lời có
        đáp án nhưng dài quá 400 ký tự). Trả 202 ngay với mã lượt và tiêu đề `Location`; theo dõi bằng
        `GET /v1/units/{unit}/test-runs/{run_id}`. Lượt kiểm tra cũng tự chạy sau khi tri thức của đơn
        vị thay đổi và theo lịch."""
        require(principal, unit, Scope.WRITE)
        await gateway.ensure_unit(unit)
        run = await quality.start_run(
            unit, RunTrigger.MANUAL, principal=principal, client_address=client_address(request)
        )
        response.headers["Location"] = f"/v1/units/{unit}/test-runs/{run.run_id}"
        return TestRunSummaryOut(**_summary_fields(run))

    @router.get(
        "/v1/units/{unit}/test-runs",
        response_model=TestRunPage,
        tags=[TAG_QUALITY],
        summary="Các lượt kiểm tra của đơn vị (mới nhất trước)",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def list_runs(
        principal: CurrentPrincipal,
        unit: Annotated[str, UNIT_PATH],
        offset: Annotated[int, OFFSET_QUERY] = 0,
        limit: Annotated[int, LIMIT_QUERY] = DEFAULT_PAGE,
    ) -> TestRunPage:
        """Tóm tắt từng lượt: nguyên nhân (`manual`, `schedule`, `change`), tỉ lệ đúng, số câu hồi quy."""
        require(principal, unit, Scope.READ)
        await gateway.ensure_unit(unit)
        total, runs = await quality.list_runs(unit, offset=offset, limit=limit)
        return TestRunPage(
            unit=unit,
            total=total,
            offset=offset,
            limit=limit,
            runs=[TestRunSummaryOut(**_summary_fields(run)) for run in runs],
        )

    @router.get(
        "/v1/units/{unit}/test-runs/{run_id}",
        response_model=TestRunOut,
        tags=[TAG_QUALITY],
        summary="Kết quả một lượt kiểm tra",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def get_run(
        principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], run_id: Annotated[str, RUN_PATH]
    ) -> TestRunOut:
        """Từng câu: câu trả lời, trích dẫn, độ tin cậy, kết luận và lý do; các câu hồi quy so với lượt
        trước kèm thay đổi tri thức giữa hai lượt (mã văn bản và phiên bản)."""
        require(principal, unit, Scope.READ)
        await gateway.ensure_unit(unit)
        return run_out(await quality.get_run(unit, run_id))

    @router.post(
        "/v1/units/{unit}/spot-checks",
        response_model=SpotCheckOut,
        tags=[TAG_QUALITY],
        summary="Kiểm tra nhanh trợ lý của một đơn vị bằng câu hỏi tự soạn (quản trị cấp Bộ)",
        responses=problem_responses(401, 403, 404, 413, 422, 429, 503),
    )
    async def spot_check(
        request: Request, principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH], body: SpotCheckIn
    ) -> SpotCheckOut:
        """Quản trị cấp Bộ dán vài câu hỏi của mình (kèm đáp án mong đợi, văn bản phải trích dẫn, hoặc
        phải từ chối) và xem ngay kết luận từng câu như một lượt kiểm tra, ví dụ khi lãnh đạo Bộ tự
        kiểm tra trợ lý của đơn vị. Câu hỏi không được lưu vào bộ câu hỏi của đơn vị và không tính vào
        báo cáo; lần kiểm tra được ghi vào nhật ký kiểm toán (`unit.spot_check_run`)."""
        require(principal, None, Scope.ADMIN)
        await gateway.ensure_unit(unit)
        results = await quality.spot_check(
            principal,
            unit,
            [question_from_body(f"cau-{index + 1}", item) for index, item in enumerate(body.questions)],
            client_address=client_address(request),
        )
        counts = count_results(results)
        rate = counts.correct_rate
        return SpotCheckOut(
            unit=unit,
            correct_rate=None if rate is None else round(rate, RATE_DIGITS),
            answerable=counts.answerable,
            correct=counts.correct,
            wrong=counts.wrong,
            refused=counts.refused,
            too_long=counts.too_long,
            must_refuse=counts.must_refuse,
            must_refuse_right=counts.must_refuse_right,
            results=[result_out(item) for item in results],
        )

    return router


__all__ = ["build_router", "question_from_body", "question_out", "result_out", "run_out"]
