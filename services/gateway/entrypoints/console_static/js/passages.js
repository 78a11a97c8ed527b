// The cited passage in its document: every indexed passage of the document, in order, with the
// cited one marked and scrolled into view.

import { api, paths } from "./api.js";
import { h, replace } from "./dom.js";

/**
 * Fill `panel` with the passages of `documentId`, marking `ordinal` (when given). `onClose` adds
 * a close button.
 */
export async function showPassages(panel, { unit, documentId, ordinal = null, onClose = null }) {
  // Only the latest request fills the panel (an earlier, slower one must not overwrite it).
  const request = String(Number(panel.dataset.request || 0) + 1);
  panel.dataset.request = request;
  panel.dataset.document = documentId;
  replace(panel, h("p", { class: "muted" }, "Đang mở văn bản…"));
  let document_;
  try {
    document_ = await api(`${paths.document(unit, documentId)}/chunks`);
  } catch (error) {
    if (panel.dataset.request === request) replace(panel, h("div", { class: "alert", role: "alert" }, error.message));
    return;
  }
  if (panel.dataset.request !== request) return;
  const facts = [
    document_.number && `Số hiệu: ${document_.number}`,
    document_.issuer && `Cơ quan ban hành: ${document_.issuer}`,
    document_.issued_date && `Ngày ban hành: ${document_.issued_date}`,
    document_.effective_date && `Hiệu lực: ${document_.effective_date}`,
  ].filter(Boolean);
  let cited = null;
  const chunks = document_.chunks.map((chunk) => {
    const isCited = ordinal !== null && chunk.ordinal === ordinal;
    const node = h(
      "div",
      { class: isCited ? "chunk cited" : "chunk", dataset: { ordinal: String(chunk.ordinal) }, "aria-current": isCited ? "true" : false },
      chunk.path ? h("div", { class: "path" }, chunk.path) : null,
      chunk.question ? h("div", { class: "path" }, `Hỏi: ${chunk.question.split("\n")[0]}`) : null,
      chunk.text,
    );
    if (isCited) cited = node;
    return node;
  });
  replace(
    panel,
    h(
      "div",
      { class: "spread" },
      h("h2", { id: "passage-title" }, document_.title || document_.document_id),
      onClose ? h("button", { class: "btn secondary small", type: "button", onclick: onClose }, "Đóng") : null,
    ),
    h("p", { class: "muted small" }, `Mã văn bản: ${document_.document_id}`, facts.length ? ` · ${facts.join(" · ")}` : ""),
    /^https?:\/\//i.test(document_.source_url) ? h("p", { class: "small" }, h("a", { href: document_.source_url, target: "_blank", rel: "noopener noreferrer" }, "Nguồn gốc văn bản")) : null,
    cited ? h("p", { class: "small" }, h("span", { class: "badge wait" }, "Đoạn được trích dẫn"), " được đánh dấu bên dưới.") : null,
    h("div", { role: "region", "aria-labelledby": "passage-title", "data-testid": "passages" }, chunks),
  );
  if (cited) cited.scrollIntoView({ block: "center", behavior: "smooth" });
}
