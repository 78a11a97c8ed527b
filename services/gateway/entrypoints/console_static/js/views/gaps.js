// Knowledge gaps: the questions the assistant could not answer or whose answer was rated not
// helpful, grouped. Staff write the answer (or attach the question to an existing FAQ entry); it
// becomes a curated FAQ entry at once, and the assistant answers that question from then on. A
// written answer is also kept as a test question (promote), so the unit's test runs check it.

import { api, apiAll, paths } from "../api.js";
import { alertBox, append, fold, formatAgo, formatNumber, h, replace, setAlert, sleep } from "../dom.js";

const WINDOW_DAYS = 30;
const GROUP_LIMIT = 100;
const INDEX_POLL_MS = 700;
const INDEX_WAIT_MS = 120_000;
let formSerial = 0; // unique ids for labels of the forms opened on this page

export async function render(container, context) {
  const { unit } = context;
  if (!unit) {
    replace(container, h("div", { class: "alert info" }, "Tài khoản chưa được gán đơn vị nào."));
    return;
  }
  replace(container, h("h1", {}, "Câu hỏi cần bổ sung"), h("p", { class: "muted" }, "Đang tải…"));
  const since = new Date(Date.now() - WINDOW_DAYS * 86_400_000).toISOString();
  let report;
  let faqEntries;
  try {
    [report, faqEntries] = await Promise.all([
      api(`${paths.unit(unit)}/reports/unanswered-questions`, { query: { since, limit: GROUP_LIMIT } }),
      apiAll(paths.faq(unit), "entries"),
    ]);
  } catch (error) {
    replace(container, h("h1", {}, "Câu hỏi cần bổ sung"), h("div", { class: "alert", role: "alert" }, error.message));
    return;
  }
  const covered = coveredQuestions(faqEntries);
  const groups = report.groups.map((group) => ({ ...group, covered: covered.has(fold(group.representative)) }));
  groups.sort((a, b) => Number(a.covered) - Number(b.covered));
  const open = groups.filter((g) => !g.covered).length;
  replace(
    container,
    h("h1", {}, "Câu hỏi cần bổ sung"),
    h(
      "p",
      { class: "muted" },
      `${WINDOW_DAYS} ngày gần nhất: ${formatNumber(report.total)} lượt hỏi chưa được trả lời hoặc bị đánh giá chưa hữu ích, gộp thành ${formatNumber(groups.length)} nhóm (${formatNumber(open)} nhóm chưa xử lý). `,
      "Viết câu trả lời (hoặc gắn vào câu hỏi thường gặp có sẵn): câu trả lời thành câu hỏi thường gặp đã duyệt ngay, và trợ lý trả lời được câu hỏi đó từ lúc này.",
    ),
    groups.length
      ? h("div", { "data-testid": "gap-list" }, groups.map((group) => gapCard(group, context, faqEntries, covered)))
      : h("div", { class: "alert ok" }, "Không có câu hỏi nào cần bổ sung trong khoảng thời gian này."),
  );
}

/** Every question an FAQ entry answers (main and alternative phrasings), folded for comparison. */
function coveredQuestions(entries) {
  const covered = new Set();
  for (const entry of entries) {
    for (const question of [entry.question, ...entry.alternative_questions]) covered.add(fold(question));
  }
  return covered;
}

function gapCard(group, context, faqEntries, covered) {
  const card = h("article", { class: group.covered ? "card gap done" : "card gap", "data-testid": "gap" });
  const otherPhrasings = [...new Set(group.examples.map((e) => e.question.trim()))].filter((q) => q !== group.representative);
  const comments = group.examples.map((e) => e.comment).filter(Boolean);
  const actions = h("div", { class: "row" });
  const workArea = h("div");
  if (context.can("write")) {
    append(actions, [
      h("button", { class: "btn small", type: "button", onclick: () => writeAnswer(workArea, group, otherPhrasings, context, card, covered) }, "Viết câu trả lời"),
      faqEntries.length ? h("button", { class: "btn secondary small", type: "button", onclick: () => linkFaq(workArea, group, otherPhrasings, faqEntries, context, card, covered) }, "Gắn với câu hỏi thường gặp có sẵn") : null,
    ]);
  }
  actions.append(h("button", { class: "btn secondary small", type: "button", onclick: () => context.navigate("chat", { q: group.representative }) }, "Hỏi thử"));
  return replace(
    card,
    h("h3", {}, group.representative),
    h(
      "p",
      { class: "small muted" },
      `${formatNumber(group.count)} lượt · ${formatNumber(group.unanswered)} chưa trả lời · ${formatNumber(group.not_helpful)} chưa hữu ích · lần cuối ${formatAgo(group.last_asked_at)}`,
      group.covered ? [" ", h("span", { class: "badge ok" }, "Đã có câu trả lời")] : null,
    ),
    otherPhrasings.length ? [h("div", { class: "small" }, "Các cách hỏi khác:"), h("ul", { class: "small" }, otherPhrasings.map((q) => h("li", {}, q)))] : null,
    comments.length ? [h("div", { class: "small" }, "Góp ý của người hỏi:"), h("ul", { class: "small" }, comments.map((c) => h("li", {}, c)))] : null,
    actions,
    workArea,
  );
}

/** Wait until the FAQ entry is indexed; resolves with its final status record. */
async function waitIndexed(unit, faqId) {
  const deadline = Date.now() + INDEX_WAIT_MS;
  for (;;) {
    const entry = await api(paths.faqEntry(unit, faqId));
    if (entry.status !== "pending" || Date.now() > deadline) return entry;
    await sleep(INDEX_POLL_MS);
  }
}

async function saveAndWait(message, save, group, context, card, covered, done = "Đã lưu. Trợ lý trả lời câu hỏi này bằng câu trả lời vừa duyệt.") {
  setAlert(message, "Đang lưu và lập chỉ mục…", "info");
  const saved = await save();
  const final = await waitIndexed(context.unit, saved.faq_id);
  if (final.status !== "indexed") {
    setAlert(message, final.reason || "Chưa lập chỉ mục được câu trả lời; vui lòng thử lại.");
    return;
  }
  covered.add(fold(group.representative));
  card.classList.add("done");
  replace(
    card.querySelector(".row") || card,
    h("span", { class: "badge ok" }, "Đã thành câu hỏi thường gặp"),
    h("button", { class: "btn small", type: "button", onclick: () => context.navigate("chat", { q: group.representative }) }, "Hỏi thử ngay"),
  );
  setAlert(message, done, "ok");
}

function writeAnswer(area, group, otherPhrasings, context, card, covered) {
  const key = ++formSerial;
  const message = alertBox("");
  const question = h("input", { id: `gap-q-${key}`, value: group.representative, required: true, maxlength: "2000" });
  const answer = h("textarea", { id: `gap-a-${key}`, required: true, rows: "4", maxlength: "20000", placeholder: "Câu trả lời chính xác, ngắn gọn, đã được duyệt." });
  const alternatives = h("textarea", { id: `gap-alt-${key}`, rows: "3", value: otherPhrasings.join("\n") });
  const basis = h("input", { id: `gap-b-${key}`, maxlength: "1000", placeholder: "Ví dụ: Điều 18 Luật Báo chí 2016" });
  const keepAsTest = h("input", { id: `gap-t-${key}`, type: "checkbox", checked: true });
  const expected = h("input", { id: `gap-e-${key}`, maxlength: "1000", placeholder: "Ví dụ: 7 giờ 30" });
  const submit = h("button", { class: "btn", type: "submit" }, "Lưu thành câu hỏi thường gặp");
  const entry = () => ({
    question: question.value.trim(),
    answer: answer.value.trim(),
    alternative_questions: alternatives.value.split("\n").map((q) => q.trim()).filter(Boolean),
    basis: basis.value.trim(),
  });
  // Promote: one call makes the FAQ entry and the test question that checks it.
  const save = () =>
    keepAsTest.checked
      ? api(`${paths.unit(context.unit)}/test-questions/promote`, { method: "POST", body: { ...entry(), expected_answer: expected.value.trim() } })
      : api(paths.faq(context.unit), { method: "POST", body: entry() });
  replace(
    area,
    h(
      "form",
      {
        class: "card",
        "aria-label": "Viết câu trả lời",
        onsubmit: async (event) => {
          event.preventDefault();
          submit.disabled = true;
          try {
            await saveAndWait(
              message,
              save,
              group,
              context,
              card,
              covered,
              keepAsTest.checked
                ? "Đã lưu thành câu hỏi thường gặp và câu hỏi kiểm tra. Trợ lý trả lời câu hỏi này bằng câu trả lời vừa duyệt."
                : undefined,
            );
          } catch (error) {
            setAlert(message, error.message);
          } finally {
            submit.disabled = false;
          }
        },
      },
      field(question, "Câu hỏi"),
      field(answer, "Câu trả lời"),
      field(alternatives, "Các cách hỏi khác", "mỗi dòng một câu"),
      field(basis, "Căn cứ / nguồn", "không bắt buộc"),
      h("div", { class: "field" }, h("label", { for: keepAsTest.id }, keepAsTest, " Thêm vào bộ câu hỏi kiểm tra")),
      field(expected, "Đáp án mong đợi khi kiểm tra", "không bắt buộc; luôn đòi trích dẫn câu hỏi thường gặp này"),
      message,
      submit,
    ),
  );
  answer.focus();
}

function linkFaq(area, group, otherPhrasings, entries, context, card, covered) {
  const key = ++formSerial;
  const message = alertBox("");
  const filter = h("input", { type: "search", id: `gap-f-${key}`, placeholder: "Lọc theo nội dung câu hỏi" });
  const choice = h("select", { id: `gap-s-${key}`, required: true, size: "6" });
  const fill = () => {
    const wanted = fold(filter.value);
    replace(choice, entries.filter((e) => !wanted || fold(`${e.question} ${e.answer}`).includes(wanted)).map((e) => h("option", { value: e.faq_id }, e.question)));
  };
  filter.addEventListener("input", fill);
  fill();
  const submit = h("button", { class: "btn", type: "submit" }, "Gắn câu hỏi vào mục đã chọn");
  replace(
    area,
    h(
      "form",
      {
        class: "card",
        "aria-label": "Gắn với câu hỏi thường gặp",
        onsubmit: async (event) => {
          event.preventDefault();
          const entry = entries.find((e) => e.faq_id === choice.value);
          if (!entry) return setAlert(message, "Hãy chọn một câu hỏi thường gặp.");
          submit.disabled = true;
          const phrasings = [...entry.alternative_questions, group.representative, ...otherPhrasings];
          const unique = [...new Map(phrasings.filter((q) => fold(q) !== fold(entry.question)).map((q) => [fold(q), q])).values()];
          try {
            await saveAndWait(
              message,
              () =>
                api(paths.faqEntry(context.unit, entry.faq_id), {
                  method: "PUT",
                  body: { question: entry.question, answer: entry.answer, alternative_questions: unique.slice(0, 20), category: entry.category, basis: entry.basis },
                }),
              group,
              context,
              card,
              covered,
            );
          } catch (error) {
            setAlert(message, error.message);
          } finally {
            submit.disabled = false;
          }
        },
      },
      field(filter, "Tìm câu hỏi thường gặp"),
      field(choice, "Câu hỏi thường gặp"),
      h("p", { class: "small muted" }, "Câu hỏi của nhóm này được thêm vào các cách hỏi khác của mục đã chọn."),
      message,
      submit,
    ),
  );
  filter.focus();
}

function field(input, label, hint = "") {
  return h("div", { class: "field" }, h("label", { for: input.id }, label, hint ? h("span", { class: "hint" }, ` (${hint})`) : null), input);
}
