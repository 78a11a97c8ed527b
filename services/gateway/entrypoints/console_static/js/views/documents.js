// Documents of the chosen unit: status (indexed / queued with its place in the unit's queue /
// failed with the reason), upload by drag and drop or file picker (several files, with progress),
// view passages, reindex, delete; a banner with the unit's ingest queue and its estimated time while
// changes wait.

import { api, apiAll, paths, upload } from "../api.js";
import { confirmDialog, eachLimited, formatAgo, formatDateTime, formatNumber, fold, h, replace, slug, toast } from "../dom.js";
import { showPassages } from "../passages.js";

const ACCEPTED = ".pdf,.docx,.xlsx,.csv,.html,.htm,.md,.txt";
const UPLOADS_AT_ONCE = 2;
const POLL_MS = 1500;
// `pending` is what a gateway before queue positions said for `queued`.
const isWaiting = (d) => d.status === "queued" || d.status === "pending";

/** "Thứ 12 trong hàng đợi" (and the lane when it is the bulk one), or null when unknown. */
function queuePlace(d) {
  if (!isWaiting(d) || !d.queue_position) return null;
  const lane = d.queue_lane === "bulk" ? " nhập hàng loạt" : "";
  return h("div", { class: "small", "data-testid": "queue-place" }, `Thứ ${formatNumber(d.queue_position)} trong hàng đợi${lane}`);
}
const STATUS_LABELS = {
  indexed: ["ok", "Đã lập chỉ mục"],
  queued: ["wait", "Đang chờ xử lý"],
  failed: ["bad", "Lỗi"],
  deleted: ["info", "Đã xóa"],
};

export async function render(container, context) {
  const { unit } = context;
  if (!unit) {
    replace(container, h("div", { class: "alert info" }, "Tài khoản chưa được gán đơn vị nào."));
    return;
  }
  const canWrite = context.can("write");
  let documents = [];
  let timer = null;
  let stopped = false;
  const filter = h("input", { type: "search", id: "doc-filter", placeholder: "Lọc theo mã hoặc tiêu đề", "aria-label": "Lọc văn bản" });
  const statusFilter = h(
    "select",
    { "aria-label": "Trạng thái" },
    h("option", { value: "" }, "Mọi trạng thái"),
    Object.entries(STATUS_LABELS).filter(([key]) => key !== "deleted").map(([key, [, label]]) => h("option", { value: key }, label)),
  );
  const summary = h("p", { class: "small muted", role: "status" });
  // The unit's ingest queue (GET …/documents `queue`): "Đang xử lý 1.832 văn bản — dự kiến xong sau 25 phút".
  const backlog = h("p", { class: "alert info hidden", role: "status", "data-testid": "queue-banner" });
  let waiting = 0;
  const body = h("tbody");
  const viewer = h("section", { class: "card hidden", "aria-label": "Nội dung văn bản" });
  const queue = h("ul", { class: "uploads", "aria-label": "Tệp đang tải lên" });

  function draw() {
    const wanted = fold(filter.value);
    const shown = documents.filter((d) => (!statusFilter.value || d.status === statusFilter.value) && (!wanted || fold(`${d.document_id} ${d.title} ${d.filename}`).includes(wanted)));
    const counts = { indexed: 0, queued: 0, failed: 0 };
    for (const d of documents) {
      const key = isWaiting(d) ? "queued" : d.status;
      counts[key] = (counts[key] || 0) + 1;
    }
    summary.textContent = `${formatNumber(documents.length)} văn bản: ${formatNumber(counts.indexed)} đã lập chỉ mục, ${formatNumber(counts.queued)} đang chờ xử lý, ${formatNumber(counts.failed)} lỗi.`;
    replace(body, shown.map((d) => row(d)));
  }

  function row(d) {
    const [kind, label] = STATUS_LABELS[isWaiting(d) ? "queued" : d.status] || ["info", d.status];
    const isFaq = d.document_id.startsWith("faq-");
    return h(
      "tr",
      { dataset: { document: d.document_id, status: d.status } },
      h("td", {}, h("div", {}, d.title || d.filename || d.document_id), h("div", { class: "small muted mono" }, d.document_id), isFaq ? h("span", { class: "badge info" }, "Câu hỏi thường gặp") : null),
      h("td", {}, h("span", { class: `badge ${kind}` }, label), queuePlace(d), d.status === "failed" && d.reason ? h("div", { class: "small", role: "note" }, d.reason) : null),
      h("td", { class: "num" }, d.status === "indexed" ? formatNumber(d.chunk_count) : "—"),
      h("td", { title: formatDateTime(d.updated_at) }, formatAgo(d.updated_at)),
      h(
        "td",
        { class: "nowrap" },
        d.status === "indexed" ? h("button", { class: "btn secondary small", type: "button", onclick: () => view(d) }, "Xem") : null,
        canWrite && !isFaq && (d.status === "indexed" || d.status === "failed") ? [" ", h("button", { class: "btn secondary small", type: "button", onclick: () => reindex(d) }, "Lập chỉ mục lại")] : null,
        canWrite && !isFaq && !isWaiting(d) ? [" ", h("button", { class: "btn danger small", type: "button", onclick: () => remove(d) }, "Xóa")] : null,
      ),
    );
  }

  async function load() {
    try {
      documents = await apiAll(paths.documents(unit), "documents");
      const listing = await api(`${paths.documents(unit)}?limit=1`);
      waiting = listing.queue ? listing.queue.waiting : 0;
      backlog.textContent = waiting > 0 ? listing.queue.message : "";
      backlog.classList.toggle("hidden", waiting === 0);
      draw();
    } catch (error) {
      summary.textContent = error.message;
    }
    schedule();
  }

  /** Poll while anything waits (uploads, deletes, reindexing). */
  function schedule() {
    clearTimeout(timer);
    if (!stopped && (waiting > 0 || documents.some(isWaiting))) timer = setTimeout(load, POLL_MS);
  }

  function view(d) {
    viewer.classList.remove("hidden");
    showPassages(viewer, { unit, documentId: d.document_id, onClose: () => viewer.classList.add("hidden") });
    viewer.scrollIntoView({ behavior: "smooth" });
  }

  async function reindex(d) {
    try {
      await api(`${paths.document(unit, d.document_id)}/reindex`, { method: "POST" });
      d.status = "queued";
      draw();
      toast(`Đang lập chỉ mục lại “${d.title || d.document_id}”.`);
      const before = d.updated_at;
      // The record keeps its version; it is done when it changes.
      const waitDone = async () => {
        for (let i = 0; i < 120 && !stopped; i++) {
          const status = await api(paths.document(unit, d.document_id));
          if (status.updated_at !== before && !isWaiting(status)) return status;
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
        return null;
      };
      const status = await waitDone();
      if (status) toast(status.status === "indexed" ? `Đã lập chỉ mục lại (${status.chunk_count} đoạn).` : `Lỗi: ${status.reason}`, { bad: status.status !== "indexed" });
      await load();
    } catch (error) {
      toast(error.message, { bad: true });
      await load();
    }
  }

  async function remove(d) {
    const sure = await confirmDialog("Xóa văn bản?", `“${d.title || d.document_id}” sẽ bị gỡ khỏi tri thức của trợ lý. Thao tác được ghi vào nhật ký.`, { confirm: "Xóa văn bản", danger: true });
    if (!sure) return;
    try {
      await api(paths.document(unit, d.document_id), { method: "DELETE" });
      toast("Đã gửi yêu cầu xóa.");
    } catch (error) {
      toast(error.message, { bad: true });
    }
    await load();
  }

  async function uploadFiles(files) {
    const items = [...files].map((file) => {
      const bar = h("progress", { max: "1", value: "0", "aria-label": `Tiến độ tải ${file.name}` });
      const state = h("span", { class: "small", role: "status" }, "Chờ tải lên");
      const item = h("li", { dataset: { file: file.name } }, h("div", {}, h("div", {}, file.name), bar), state);
      queue.append(item);
      return { file, bar, state, item };
    });
    await eachLimited(items, UPLOADS_AT_ONCE, async ({ file, bar, state, item }) => {
      // Ids starting with "faq-" belong to curated FAQ entries; the API refuses them for files.
      const documentId = slug(file.name).replace(/^faq-/, "tep-faq-");
      const form = new FormData();
      // No title: ingest takes the document's own (its metadata, legal header or first heading).
      form.append("file", file, file.name);
      try {
        state.textContent = "Đang tải lên";
        await upload(paths.document(unit, documentId), form, (fraction) => {
          bar.value = fraction;
          state.textContent = `Đang tải lên ${Math.round(fraction * 100)}%`;
        });
        bar.value = 1;
        state.textContent = "Đang xử lý…";
        await load();
        for (;;) {
          const status = await api(paths.document(unit, documentId));
          if (status.status === "indexed") {
            state.textContent = `Đã lập chỉ mục (${status.chunk_count} đoạn)`;
            item.dataset.status = "indexed";
            break;
          }
          if (status.status === "failed") {
            state.textContent = `Lỗi: ${status.reason}`;
            item.dataset.status = "failed";
            break;
          }
          if (stopped) return;
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      } catch (error) {
        state.textContent = `Lỗi: ${error.message}`;
        item.dataset.status = "failed";
      }
    });
    await load();
  }

  const picker = h("input", { type: "file", id: "doc-files", multiple: true, accept: ACCEPTED, class: "hidden", onchange: (event) => { uploadFiles(event.target.files); event.target.value = ""; } });
  const drop = h(
    "div",
    { class: "drop", "data-testid": "dropzone" },
    h("p", {}, h("strong", {}, "Kéo thả tệp vào đây"), " hoặc ", h("label", { for: "doc-files", class: "btn secondary small" }, "Chọn tệp…")),
    h("p", { class: "small muted" }, "PDF (cả bản quét), Word, Excel/CSV (câu hỏi thường gặp), HTML, Markdown, văn bản thuần. Có thể chọn nhiều tệp; tải lại tệp cùng tên sẽ thay phiên bản cũ."),
    picker,
    queue,
  );
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) uploadFiles(event.dataTransfer.files);
  });
  filter.addEventListener("input", draw);
  statusFilter.addEventListener("change", draw);

  replace(
    container,
    h("h1", {}, `Văn bản của ${context.unitName(unit)}`),
    canWrite ? drop : h("p", { class: "alert info" }, "Tài khoản chỉ có quyền xem văn bản."),
    backlog,
    h("div", { class: "spread toolbar" }, summary, h("div", { class: "row filters" }, filter, statusFilter)),
    h(
      "div",
      { class: "table-wrap card" },
      h(
        "table",
        { "aria-label": "Danh sách văn bản", "data-testid": "documents-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Văn bản"), h("th", { scope: "col" }, "Trạng thái"), h("th", { scope: "col", class: "num" }, "Số đoạn"), h("th", { scope: "col" }, "Cập nhật"), h("th", { scope: "col" }, "Thao tác"))),
        body,
      ),
    ),
    viewer,
  );
  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
