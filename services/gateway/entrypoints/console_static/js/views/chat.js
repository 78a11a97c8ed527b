// Try the assistant: ask the chosen unit's assistant, see the answer grow, the sources it rests on
// (each opens the cited passage; related documents apart, quietly), how sure it is in words, and
// mark it helpful or wrong in one click (wrong answers feed the calibration report).

import { api, readEvents } from "../api.js";
import { h, replace } from "../dom.js";
import { showPassages } from "../passages.js";

const SOURCE_LABELS = {
  faq: "Câu hỏi thường gặp đã duyệt",
  extractive: "Trích từ văn bản",
  generative: "Tổng hợp từ văn bản",
  none: "Chưa có thông tin",
};

// Confidence bands of answered questions, in words. Below `LOW_BELOW` staff should check the source
// before using the answer; from `HIGH_FROM` the answer rests firmly on its source.
const LOW_BELOW = 0.65;
const HIGH_FROM = 0.8;
const percent = (value) => `${Math.round(value * 100)}%`;

/** How sure the assistant is, as staff should read it: {id, title, advice}. */
export function confidenceBand(result) {
  if (!result.answered) return { id: "none", title: "Trợ lý không trả lời", advice: "chưa có thông tin đủ chắc chắn trong tri thức của đơn vị." };
  if (result.answer_source === "faq") return { id: "high", title: "Độ tin cậy cao", advice: "trả lời từ câu hỏi thường gặp đã được đơn vị duyệt." };
  const confidence = result.confidence || 0;
  if (confidence < LOW_BELOW) return { id: "low", title: `Độ tin cậy thấp (dưới ${percent(LOW_BELOW)})`, advice: "hãy kiểm tra nguồn trước khi dùng câu trả lời." };
  if (confidence < HIGH_FROM) return { id: "medium", title: `Độ tin cậy trung bình (${percent(LOW_BELOW)}–${percent(HIGH_FROM)})`, advice: "nên đối chiếu với nguồn." };
  return { id: "high", title: `Độ tin cậy cao (từ ${percent(HIGH_FROM)})`, advice: "câu trả lời bám sát nguồn được trích." };
}

/** A citation as people name it: "Quy chế … số 13/2023/NĐ-CP, Điều 5, Khoản 2"; an FAQ by its question. */
export function citationName(citation) {
  const title = citation.title || citation.document_id;
  if (citation.question) return `Câu hỏi thường gặp: ${citation.question}`;
  if (citation.document_id.startsWith("faq-")) return `Câu hỏi thường gặp: ${title}`;
  const number = citation.number && !title.includes(citation.number) ? ` số ${citation.number}` : "";
  return `${title}${number}${citation.path ? `, ${citation.path}` : ""}`;
}

export function render(container, context) {
  const { unit } = context;
  if (!unit) {
    replace(container, h("div", { class: "alert info" }, "Tài khoản chưa được gán đơn vị nào."));
    return;
  }
  let conversationId = null;
  const log = h("div", { class: "log", "aria-live": "polite", "data-testid": "chat-log" });
  const passage = h("aside", { class: "card passage hidden", "aria-label": "Đoạn văn bản được trích dẫn" });
  const layout = h("div", { class: "chat no-passage" });
  const question = h("textarea", {
    id: "chat-question",
    rows: "2",
    maxlength: "2000",
    required: true,
    placeholder: "Ví dụ: Thời hạn cấp giấy phép là bao lâu?",
    value: context.params.get("q") || "",
  });
  const send = h("button", { class: "btn", type: "submit" }, "Gửi câu hỏi");

  const closePassage = () => {
    passage.classList.add("hidden");
    layout.classList.add("no-passage");
  };
  const openPassage = (citation) => {
    passage.classList.remove("hidden");
    layout.classList.remove("no-passage");
    showPassages(passage, { unit, documentId: citation.document_id, ordinal: citation.chunk_ordinal, onClose: closePassage });
    if (window.matchMedia("(max-width: 760px)").matches) passage.scrollIntoView({ behavior: "smooth" });
  };

  async function ask(text) {
    log.append(h("div", { class: "q" }, text));
    const answerText = h("div", { class: "text" }, "…");
    const card = h("article", { class: "a", "aria-busy": "true", "data-testid": "answer" }, answerText);
    log.append(card);
    card.scrollIntoView({ block: "nearest" });
    send.disabled = true;
    try {
      const response = await api(`/v1/units/${encodeURIComponent(unit)}/ask/stream`, {
        method: "POST",
        raw: true,
        body: conversationId ? { question: text, conversation_id: conversationId } : { question: text },
      });
      let streamed = "";
      let result = null;
      await readEvents(response, (event, data) => {
        if (event === "delta") {
          streamed += data.text;
          answerText.textContent = streamed;
        } else if (event === "done") {
          result = data;
        }
      });
      if (!result) throw new Error("Luồng trả lời bị ngắt giữa chừng; vui lòng hỏi lại.");
      conversationId = result.conversation_id || conversationId;
      showAnswer(card, answerText, result);
    } catch (error) {
      card.classList.add("abstained");
      answerText.textContent = error.message;
    } finally {
      card.removeAttribute("aria-busy");
      send.disabled = false;
    }
  }

  function showAnswer(card, answerText, result) {
    answerText.textContent = result.answer || "Tôi chưa có thông tin để trả lời câu hỏi này.";
    card.dataset.answered = String(result.answered);
    card.dataset.source = result.answer_source;
    if (!result.answered) card.classList.add("abstained");
    const confidence = Math.round((result.confidence || 0) * 100);
    const band = confidenceBand(result);
    card.dataset.confidence = band.id;
    const meter = h("span", { class: "meter", role: "meter", "aria-valuenow": confidence, "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": "Độ tin cậy" }, h("span", { style: { width: `${confidence}%` } }));
    card.append(
      h("p", { class: `confidence ${band.id}`, "data-testid": "confidence" }, h("strong", {}, band.title), band.advice ? ` — ${band.advice}` : ""),
      h(
        "p",
        { class: "row small muted" },
        h("span", {}, SOURCE_LABELS[result.answer_source] || result.answer_source),
        result.answered ? h("span", { class: "nowrap" }, "Độ tin cậy ", meter, ` ${confidence}%`) : null,
      ),
    );
    const byRole = (role) => result.citations.filter((citation) => (citation.role || "answer") === role);
    const sources = byRole("answer");
    const related = byRole("related");
    const closest = byRole("closest");
    if (result.answered && sources.length) {
      card.append(
        h("div", { class: "small" }, h("strong", {}, "Nguồn của câu trả lời:")),
        h("ol", { class: "citations" }, sources.map((citation) => citationItem(citation, "citation", true))),
      );
    }
    if (result.answered && related.length) {
      card.append(
        h(
          "details",
          { class: "related small muted" },
          h("summary", {}, `Văn bản liên quan (${related.length}) — không phải nguồn của câu trả lời`),
          h("ul", { class: "citations" }, related.map((citation) => citationItem(citation, "related-citation", false))),
        ),
      );
    }
    if (!result.answered && closest.length) {
      card.append(
        h(
          "p",
          { class: "small muted" },
          "Nội dung gần nhất tìm thấy (chưa đủ để trả lời): ",
          closest.map((citation) => h("button", { class: "btn link", type: "button", onclick: () => openPassage(citation), "data-testid": "closest-citation" }, citationName(citation))),
        ),
      );
    }
    card.append(feedbackControl(result.question_id));
    // The passage panel follows the newest answer: its first source, or nothing.
    if (!passage.classList.contains("hidden")) {
      if (sources.length && result.answered) openPassage(sources[0]);
      else closePassage();
    }
  }

  function citationItem(citation, testId, withSnippet) {
    return h(
      "li",
      {},
      h("button", { class: "btn link", type: "button", onclick: () => openPassage(citation), "data-testid": testId }, citationName(citation)),
      withSnippet && citation.snippet ? h("div", { class: "small muted" }, `“${citation.snippet}”`) : null,
    );
  }

  function feedbackControl(questionId) {
    const status = h("span", { class: "small muted", role: "status" });
    const comment = h("textarea", { rows: "2", maxlength: "2000", placeholder: "Sai ở đâu, đúng ra phải thế nào? (không bắt buộc)", "aria-label": "Góp ý" });
    const commentForm = h(
      "form",
      { class: "hidden stack", onsubmit: (event) => { event.preventDefault(); submit(false, comment.value.trim()); } },
      comment,
      h("button", { class: "btn small", type: "submit" }, "Gửi góp ý"),
    );
    const helpful = h("button", { class: "btn secondary small", type: "button", "aria-pressed": "false" }, "Hữu ích");
    const wrong = h("button", { class: "btn secondary small wrong", type: "button", "aria-pressed": "false", "data-testid": "mark-wrong" }, "Câu trả lời sai");
    async function submit(value, text = "") {
      try {
        await api(`/v1/units/${encodeURIComponent(unit)}/feedback`, { method: "POST", body: { question_id: questionId, helpful: value, comment: text } });
        helpful.setAttribute("aria-pressed", String(value));
        wrong.setAttribute("aria-pressed", String(!value));
        wrong.textContent = value ? "Câu trả lời sai" : "✗ Đã đánh dấu sai";
        status.textContent = value
          ? "Cảm ơn, đã ghi nhận: hữu ích."
          : "Đã ghi nhận: câu trả lời sai. Đánh giá này được tính vào báo cáo hiệu chỉnh ngưỡng tin cậy và câu hỏi hiện trong mục Câu hỏi cần bổ sung.";
        if (text) commentForm.classList.add("hidden");
      } catch (error) {
        status.textContent = error.message;
      }
    }
    helpful.addEventListener("click", () => submit(true));
    wrong.addEventListener("click", () => {
      commentForm.classList.remove("hidden");
      submit(false);
    });
    return h("div", { class: "feedback" }, h("div", { class: "row" }, h("span", { class: "small" }, "Câu trả lời có đúng không?"), helpful, wrong, status), commentForm);
  }

  const form = h(
    "form",
    {
      class: "composer",
      onsubmit: (event) => {
        event.preventDefault();
        const text = question.value.trim();
        if (!text) return;
        question.value = "";
        ask(text);
      },
    },
    h("label", { for: "chat-question" }, `Câu hỏi cho trợ lý của ${context.unitName(unit)}`),
    question,
    h(
      "div",
      { class: "row" },
      send,
      h("button", { class: "btn secondary", type: "button", onclick: () => { conversationId = null; replace(log); closePassage(); question.focus(); } }, "Hội thoại mới"),
      h("span", { class: "small muted wide-only" }, "Enter để gửi, Shift+Enter để xuống dòng."),
    ),
  );
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  replace(
    container,
    h("h1", {}, "Hỏi thử trợ lý"),
    h("p", { class: "muted" }, "Trợ lý chỉ trả lời từ tri thức của đơn vị, luôn kèm nguồn; khi chưa có thông tin, trợ lý nói rõ thay vì đoán."),
    replace(layout, h("section", { "aria-label": "Hội thoại" }, log, form), passage),
  );
  question.focus();
}
