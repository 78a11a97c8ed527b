// Test questions ("Bộ câu hỏi kiểm tra"): the unit's tested correct rate against the 90% bar, the
// last run's regressions with the knowledge changes that caused them, every verdict of that run,
// and the questions themselves (add one, import a spreadsheet, run now).

import { api, paths } from "../api.js";
import { alertBox, formatDateTime, formatNumber, h, replace, setAlert, sleep, toast } from "../dom.js";
import { testedFigure } from "../bar.js";

const RUN_POLL_MS = 700;
const RUN_WAIT_MS = 120_000;
const VERDICTS = { right: "Đúng", wrong: "Sai", refused: "Từ chối", too_long: "Quá dài" };
const TRIGGERS = { manual: "chạy theo yêu cầu", schedule: "theo lịch", change: "sau khi tri thức thay đổi" };

const testPath = (unit) => `${paths.unit(unit)}/test-questions`;
const runPath = (unit) => `${paths.unit(unit)}/test-runs`;

export async function render(container, context) {
  const { unit } = context;
  if (!unit) {
    replace(container, h("div", { class: "alert info" }, "Tài khoản chưa được gán đơn vị nào."));
    return;
  }
  replace(container, h("h1", {}, "Bộ câu hỏi kiểm tra"), h("p", { class: "muted" }, "Đang tải…"));
  let questions;
  let runs;
  try {
    [questions, runs] = await Promise.all([api(testPath(unit), { query: { limit: 500 } }), api(runPath(unit), { query: { limit: 20 } })]);
  } catch (error) {
    replace(container, h("h1", {}, "Bộ câu hỏi kiểm tra"), alertBox(error.message));
    return;
  }
  const lastDone = runs.runs.find((run) => run.status === "done");
  const last = lastDone ? await api(`${runPath(unit)}/${lastDone.run_id}`) : null;
  const status = alertBox("", "info");
  status.hidden = true;
  const canWrite = context.can("write");
  const runButton = h("button", { class: "btn", type: "button", disabled: !canWrite || !questions.total, onclick: runNow }, "Chạy kiểm tra");

  async function runNow() {
    runButton.disabled = true;
    setAlert(status, "Đang hỏi trợ lý từng câu hỏi kiểm tra…", "info");
    try {
      const started = await api(runPath(unit), { method: "POST", body: {} });
      const deadline = Date.now() + RUN_WAIT_MS;
      let run = started;
      while (run.status === "running" && Date.now() < deadline) {
        await sleep(RUN_POLL_MS);
        run = await api(`${runPath(unit)}/${started.run_id}`);
      }
      await render(container, context);
    } catch (error) {
      setAlert(status, error.message, "bad");
      runButton.disabled = false;
    }
  }

  replace(
    container,
    h("div", { class: "spread" }, h("h1", {}, "Bộ câu hỏi kiểm tra"), runButton),
    h(
      "p",
      { class: "muted" },
      "Tỉ lệ trả lời chỉ đếm câu không bị từ chối; tỉ lệ đúng trên bộ câu hỏi kiểm tra mới cho biết trợ lý có thật sự trả lời đúng 90% câu hỏi. ",
      "Bộ câu hỏi tự chạy lại sau mỗi lần tri thức của đơn vị thay đổi.",
    ),
    status,
    rateCard(questions.total, last),
    last ? regressionList(last) : null,
    last ? resultsTable(last) : null,
    questionSection(unit, questions, canWrite, () => render(container, context)),
  );
}

function rateCard(count, last) {
  const tested = testedFigure({ test_questions: count, tested_correct_rate: last ? last.correct_rate : null, tested_answerable: last ? last.answerable : null });
  const when = last ? `${formatDateTime(last.finished_at)}` : "—";
  return h(
    "div",
    { class: "kpis" },
    kpi("Tỉ lệ đúng (ngưỡng 90%)", tested.value, tested.note, "tested-rate"),
    kpi("Câu hỏi kiểm tra", formatNumber(count), last ? `${last.correct}/${last.answerable} câu có đáp án đúng` : ""),
    kpi("Lần kiểm tra gần nhất", when, last ? TRIGGERS[last.trigger] || last.trigger : ""),
  );
}

function kpi(label, value, note, testId = "") {
  return h("div", { class: "kpi", "data-testid": testId || false }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), h("div", { class: "small" }, note));
}

function regressionList(run) {
  if (!run.regressions.length) return h("div", { class: "alert ok", "data-testid": "regressions" }, "Không có câu nào đúng ở lần trước mà nay sai.");
  return h(
    "section",
    { "aria-labelledby": "regressions-title" },
    h("h2", { id: "regressions-title" }, `Hồi quy so với lần trước (${run.regressions.length})`),
    h(
      "ul",
      { class: "card", "data-testid": "regressions" },
      run.regressions.map((item) =>
        h(
          "li",
          { dataset: { question: item.question_id } },
          h("strong", {}, item.question),
          ` — ${VERDICTS[item.previous_verdict]} → ${VERDICTS[item.verdict]}. ${item.reason} `,
          item.changes.length
            ? h("span", { class: "muted" }, "Thay đổi giữa hai lần: ", item.changes.map((c) => `${c.document_id} (phiên bản ${c.version}${c.status === "deleted" ? ", đã xóa" : ""})`).join(", "))
            : null,
        ),
      ),
    ),
  );
}

function resultsTable(run) {
  return h(
    "section",
    { "aria-labelledby": "results-title" },
    h("h2", { id: "results-title" }, "Kết quả lần kiểm tra gần nhất"),
    h(
      "div",
      { class: "table-wrap card" },
      h(
      "table",
      { "data-testid": "test-results", "aria-label": "Kết quả từng câu" },
      h("thead", {}, h("tr", {}, h("th", {}, "Câu hỏi"), h("th", {}, "Kết luận"), h("th", {}, "Câu trả lời"))),
      h(
        "tbody",
        {},
        run.results.map((item) =>
          h("tr", { dataset: { question: item.question_id, verdict: item.verdict } }, h("td", {}, item.question), h("td", { title: item.reason }, VERDICTS[item.verdict]), h("td", {}, item.answer || "—")),
        ),
      ),
      ),
    ),
  );
}

function questionSection(unit, questions, canWrite, reload) {
  const note = alertBox("", "info");
  note.hidden = true;
  const question = h("input", { id: "tq-question", required: true, maxlength: 2000 });
  const expected = h("input", { id: "tq-expected", maxlength: 1000 });
  const refuse = h("input", { id: "tq-refuse", type: "checkbox" });
  const file = h("input", { id: "tq-file", type: "file", accept: ".xlsx,.csv", "aria-label": "Tệp câu hỏi kiểm tra (.xlsx, .csv)" });

  async function add(event) {
    event.preventDefault();
    const id = `cau-${Date.now().toString(36)}`;
    try {
      await api(`${testPath(unit)}/${id}`, { method: "PUT", body: { question: question.value, expected_answer: expected.value, must_refuse: refuse.checked } });
      await reload();
    } catch (error) {
      setAlert(note, error.message, "bad");
    }
  }

  async function importFile() {
    if (!file.files.length) return;
    const form = new FormData();
    form.append("file", file.files[0]);
    try {
      const report = await api(`${testPath(unit)}/import`, { method: "POST", body: form });
      const lines = report.problems.map((p) => `dòng ${p.line}: ${p.reason}`).join("; ");
      await reload();
      toast(`Đã nhập ${report.imported} câu hỏi; bỏ qua ${report.rejected} dòng${lines ? ` (${lines})` : ""}.`);
    } catch (error) {
      setAlert(note, error.message, "bad");
    }
  }

  return h(
    "section",
    { "aria-labelledby": "questions-title" },
    h("h2", { id: "questions-title" }, `Câu hỏi kiểm tra (${formatNumber(questions.total)})`),
    note,
    canWrite
      ? h(
          "form",
          { class: "card", onsubmit: add },
          h("div", { class: "field" }, h("label", { for: "tq-question" }, "Câu hỏi"), question),
          h("div", { class: "field" }, h("label", { for: "tq-expected" }, "Đáp án mong đợi"), expected),
          h("div", { class: "field" }, h("label", {}, refuse, " Phải từ chối")),
          h(
            "div",
            { class: "row" },
            h("button", { class: "btn secondary", type: "submit" }, "Thêm câu hỏi"),
            file,
            h("button", { class: "btn secondary", type: "button", onclick: importFile }, "Nhập từ bảng tính"),
          ),
        )
      : null,
    h(
      "ul",
      { "data-testid": "test-questions" },
      questions.questions.map((q) => h("li", {}, q.question, " ", h("span", { class: "muted" }, q.must_refuse ? "(phải từ chối)" : q.expected_answer ? `→ «${q.expected_answer}»` : `→ trích dẫn ${q.expected_document_id}`))),
    ),
  );
}
