// Try the assistant: ask the chosen unit's assistant, see the answer grow, its citations (each opens
// the cited passage), its confidence, and say whether it helped.

import { api, readEvents } from "../api.js";
import { h, replace } from "../dom.js";
import { showPassages } from "../passages.js";

const SOURCE_LABELS = {
  faq: "Câu hỏi thường gặp đã duyệt",
  extractive: "Trích từ văn bản",
  generative: "Tổng hợp từ văn bản",
  none: "Chưa có thông tin",
};

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
    const meter = h("span", { class: "meter", role: "meter", "aria-valuenow": confidence, "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": "Độ tin cậy" }, h("span", { style: { width: `${confidence}%` } }));
    card.append(
      h(
        "p",
        { class: "row small muted" },
        result.answered ? h("span", { class: "badge ok" }, "Đã trả lời") : h("span", { class: "badge bad" }, "Chưa có thông tin"),
        h("span", {}, SOURCE_LABELS[result.answer_source] || result.answer_source),
        h("span", { class: "nowrap" }, "Độ tin cậy ", meter, ` ${confidence}%`),
      ),
    );
    if (result.citations.length) {
      card.append(
        h("div", { class: "small" }, h("strong", {}, "Nguồn trích dẫn:")),
        h(
          "ol",
          { class: "citations" },
          result.citations.map((citation) =>
            h(
              "li",
              {},
              h(
                "button",
                { class: "btn link", type: "button", onclick: () => openPassage(citation), "data-testid": "citation" },
                [citation.title || citation.document_id, citation.path && ` — ${citation.path}`, citation.number && ` (${citation.number})`].filter(Boolean).join(""),
              ),
              citation.snippet ? h("div", { class: "small muted" }, `“${citation.snippet}”`) : null,
            ),
          ),
        ),
      );
    }
    card.append(feedbackControl(result.question_id));
  }

  function feedbackControl(questionId) {
    const status = h("span", { class: "small muted", role: "status" });
    const comment = h("textarea", { rows: "2", maxlength: "2000", placeholder: "Câu trả lời còn thiếu hoặc sai ở đâu? (không bắt buộc)", "aria-label": "Góp ý" });
    const commentForm = h(
      "form",
      { class: "hidden stack", onsubmit: (event) => { event.preventDefault(); submit(false, comment.value.trim()); } },
      comment,
      h("button", { class: "btn small", type: "submit" }, "Gửi góp ý"),
    );
    const helpful = h("button", { class: "btn secondary small", type: "button", "aria-pressed": "false" }, "Hữu ích");
    const notHelpful = h("button", { class: "btn secondary small", type: "button", "aria-pressed": "false" }, "Chưa hữu ích");
    async function submit(value, text = "") {
      try {
        await api(`/v1/units/${encodeURIComponent(unit)}/feedback`, { method: "POST", body: { question_id: questionId, helpful: value, comment: text } });
        helpful.setAttribute("aria-pressed", String(value));
        notHelpful.setAttribute("aria-pressed", String(!value));
        status.textContent = value ? "Cảm ơn, đã ghi nhận: hữu ích." : "Đã ghi nhận: chưa hữu ích. Câu này sẽ xuất hiện trong mục Câu hỏi cần bổ sung.";
        if (text) commentForm.classList.add("hidden");
      } catch (error) {
        status.textContent = error.message;
      }
    }
    helpful.addEventListener("click", () => submit(true));
    notHelpful.addEventListener("click", () => {
      commentForm.classList.remove("hidden");
      submit(false);
    });
    return h("div", { class: "feedback" }, h("div", { class: "row" }, h("span", { class: "small" }, "Câu trả lời có hữu ích không?"), helpful, notHelpful, status), commentForm);
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
