// Snapshots and restores (ministry admins): list, take (one unit or all), verify, and restore one
// unit or everything after a fresh OTP (step-up); the restore report doubles as the drill report:
// how long each phase took and what was replayed after the snapshot.

import { api, session } from "../api.js";
import { alertBox, formatBytes, formatDateTime, formatNumber, h, modal, replace, setAlert, toast } from "../dom.js";

const TRIGGER_LABELS = { manual: "Thủ công", scheduled: "Theo lịch", drill: "Diễn tập" };
const PHASE_LABELS = {
  verify: "Kiểm tra tổng kiểm",
  import: "Nạp chỉ mục",
  key_values: "Khôi phục trạng thái, câu hỏi thường gặp",
  originals: "Đối chiếu bản gốc",
  replay: "Phát lại sự kiện sau thời điểm chụp",
};

export async function render(container, context) {
  const listArea = h("div", { class: "table-wrap card" }, h("p", { class: "muted" }, "Đang tải…"));
  const reportArea = h("section", { "aria-label": "Báo cáo khôi phục", "data-testid": "restore-report-area" });
  const onlyUnit = h("input", { type: "checkbox", id: "snap-only-unit" });
  const message = alertBox("");
  const takeUnit = h("button", { class: "btn", type: "button" }, `Chụp đơn vị ${context.unitName(context.unit)}`);
  const takeAll = h("button", { class: "btn secondary", type: "button" }, "Chụp toàn bộ");
  let snapshots = [];

  async function take(body, button) {
    button.disabled = true;
    setAlert(message, "Đang chụp dữ liệu…", "info");
    try {
      const info = await api("/v1/snapshots", { method: "POST", body });
      setAlert(message, `Đã chụp ${info.snapshot_id} (${formatBytes(info.size_bytes)}, ${info.seconds.toLocaleString("vi-VN", { maximumFractionDigits: 1 })} giây).`, "ok");
      await load();
    } catch (error) {
      setAlert(message, error.message);
    } finally {
      button.disabled = false;
    }
  }
  takeUnit.addEventListener("click", () => take({ unit: context.unit }, takeUnit));
  takeAll.addEventListener("click", () => take({ all_units: true }, takeAll));
  onlyUnit.addEventListener("change", () => load());

  // Only the newest load draws: a slower earlier list (say the whole list asked for after a
  // snapshot, then the filter ticked) must not redraw over the rows the person is using.
  let latestLoad = 0;
  const verdicts = new Map();
  // What the table shows now: a list that comes back the same is not redrawn. A redraw between the
  // press and the release of a click on "Kiểm tra" swallows the click (press on the old button,
  // release on the new one), as the filter's list did when it held the same single snapshot.
  let drawn = "";
  async function load() {
    const mine = ++latestLoad;
    try {
      const listed = (await api("/v1/snapshots", { query: { unit: onlyUnit.checked ? context.unit : "", limit: 500 } })).snapshots;
      if (mine !== latestLoad) return;
      const shown = JSON.stringify(listed);
      if (shown === drawn) return;
      drawn = shown;
      snapshots = listed;
    } catch (error) {
      drawn = "";
      if (mine !== latestLoad) return;
      replace(listArea, h("div", { class: "alert", role: "alert" }, error.status === 404 ? "Máy chủ này chưa bật chức năng sao lưu." : error.message));
      return;
    }
    replace(
      listArea,
      snapshots.length
        ? h(
            "table",
            { "aria-label": "Danh sách bản chụp", "data-testid": "snapshots-table" },
            h("thead", {}, h("tr", {}, ["Thời điểm", "Phạm vi", "Nguồn", "Văn bản / đoạn", "Dung lượng", "Thao tác"].map((label) => h("th", { scope: "col" }, label)))),
            h("tbody", {}, snapshots.map((snapshot) => row(snapshot))),
          )
        : h("p", { class: "muted" }, "Chưa có bản chụp nào."),
    );
  }

  function row(snapshot) {
    const documents = snapshot.units.reduce((sum, u) => sum + u.documents, 0);
    const chunks = snapshot.units.reduce((sum, u) => sum + u.chunks, 0);
    const scope = snapshot.scope === "all" ? `Toàn bộ (${snapshot.units.length} đơn vị)` : snapshot.units.map((u) => context.unitName(u.unit)).join(", ");
    // A snapshot's verdict outlives a redraw of the list (the new row takes the same element), so a
    // check started just before a refresh still shows its result.
    let verdict = verdicts.get(snapshot.snapshot_id);
    if (!verdict) {
      verdict = h("span", { class: "small", role: "status" });
      verdicts.set(snapshot.snapshot_id, verdict);
    }
    return h(
      "tr",
      { dataset: { snapshot: snapshot.snapshot_id } },
      h("td", {}, formatDateTime(snapshot.created_at), h("div", { class: "small muted mono" }, snapshot.snapshot_id)),
      h("td", {}, scope),
      h("td", {}, h("span", { class: snapshot.trigger === "drill" ? "badge wait" : "badge info" }, TRIGGER_LABELS[snapshot.trigger] || snapshot.trigger)),
      h("td", { class: "num" }, `${formatNumber(documents)} / ${formatNumber(chunks)}`),
      h("td", { class: "num" }, formatBytes(snapshot.size_bytes)),
      h(
        "td",
        { class: "nowrap" },
        h("button", { class: "btn secondary small", type: "button", onclick: () => verify(snapshot, verdict) }, "Kiểm tra"),
        " ",
        h("button", { class: "btn danger small", type: "button", onclick: () => restore(snapshot) }, "Khôi phục…"),
        h("div", {}, verdict),
      ),
    );
  }

  async function verify(snapshot, verdict) {
    verdict.textContent = "Đang kiểm tra…";
    try {
      const body = snapshot.scope === "all" ? { all_units: true } : { unit: snapshot.units[0].unit };
      const result = await api(`/v1/snapshots/${encodeURIComponent(snapshot.snapshot_id)}/verify`, { method: "POST", body });
      verdict.textContent = result.ok ? "Nguyên vẹn" : `Hỏng: ${result.reason}`;
    } catch (error) {
      verdict.textContent = error.message;
    }
  }

  async function restore(snapshot) {
    const report = await modal((close) => restoreDialog(snapshot, context, close), { label: "Khôi phục từ bản chụp" });
    if (report) {
      showReport(reportArea, report, context);
      reportArea.scrollIntoView({ behavior: "smooth" });
      toast("Đã khôi phục xong.");
    }
  }

  replace(
    container,
    h("h1", {}, "Sao lưu & khôi phục"),
    h("p", { class: "muted" }, "Bản chụp gồm chỉ mục, trạng thái văn bản, câu hỏi thường gặp và danh mục bản gốc, mỗi phần có tổng kiểm SHA-256. Khôi phục kiểm tra bản chụp trước, rồi phát lại các thay đổi sau thời điểm chụp: không mất văn bản nào đã được xác nhận."),
    h("div", { class: "card" }, h("div", { class: "row" }, context.unit ? takeUnit : null, takeAll), message),
    h("div", { class: "row" }, onlyUnit, h("label", { for: "snap-only-unit" }, "Chỉ bản chụp có đơn vị đang chọn")),
    listArea,
    reportArea,
  );
  await load();
}

function restoreDialog(snapshot, context, close) {
  const message = alertBox("");
  const units = snapshot.units.map((u) => u.unit);
  const defaultUnit = units.includes(context.unit) ? context.unit : units[0];
  const target = h(
    "select",
    { id: "restore-target", value: snapshot.scope === "all" ? defaultUnit : units[0] },
    snapshot.scope === "all" ? h("option", { value: "*" }, "Tất cả đơn vị và dữ liệu dùng chung") : null,
    units.map((unit) => h("option", { value: unit }, context.unitName(unit))),
  );
  const code = h("input", { id: "restore-otp", class: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", required: true });
  // Point in time: replay only the events stored before this moment (empty: every event).
  const upTo = h("input", { id: "restore-up-to", type: "datetime-local", step: "1" });
  const previewArea = h("div", { "data-testid": "restore-preview" });
  const submit = h("button", { class: "btn danger", type: "submit" }, "Khôi phục");
  let steppedAt = 0;

  async function stepUp() {
    // One OTP code serves the preview and the restore while the step-up is fresh (a code is never
    // accepted twice).
    if (Date.now() - steppedAt < STEP_UP_REUSE_MS) return;
    setAlert(message, "Đang xác nhận OTP…", "info");
    session.save(await api("/v1/auth/step-up", { method: "POST", body: { code: code.value.trim() }, retried: true }));
    steppedAt = Date.now();
  }

  function requestBody() {
    const body = target.value === "*" ? { all_units: true } : { unit: target.value };
    if (upTo.value) body.up_to_time = new Date(upTo.value).toISOString();
    return body;
  }

  async function preview() {
    try {
      await stepUp();
      const shown = await api(`/v1/snapshots/${encodeURIComponent(snapshot.snapshot_id)}/restore/preview`, { method: "POST", body: requestBody() });
      setAlert(message, "");
      replace(previewArea, shown.units.map((u) => skippedList(u, context)));
    } catch (error) {
      setAlert(message, error.message);
    }
  }

  return h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
          await stepUp();
          setAlert(message, "Đang khôi phục… (kiểm tra, nạp chỉ mục, phát lại sự kiện)", "info");
          close(await api(`/v1/snapshots/${encodeURIComponent(snapshot.snapshot_id)}/restore`, { method: "POST", body: requestBody() }));
        } catch (error) {
          setAlert(message, error.message);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", {}, "Khôi phục từ bản chụp"),
    h("p", {}, `Bản chụp ${formatDateTime(snapshot.created_at)} (${snapshot.snapshot_id}).`),
    h("div", { class: "alert" }, "Dữ liệu hiện tại của phạm vi được chọn sẽ được thay bằng bản chụp, sau đó các thay đổi sau thời điểm chụp được phát lại. Các đơn vị khác vẫn hoạt động bình thường."),
    h("div", { class: "field" }, h("label", { for: "restore-target" }, "Phạm vi khôi phục"), target),
    h(
      "div",
      { class: "field" },
      h("label", { for: "restore-up-to" }, "Chỉ phát lại thay đổi trước thời điểm (tùy chọn, để gỡ một đợt xóa hoặc sửa hàng loạt)"),
      upTo,
    ),
    h("div", { class: "field" }, h("label", { for: "restore-otp" }, "Mã OTP (xác nhận lại danh tính)"), code),
    message,
    previewArea,
    h(
      "div",
      { class: "row" },
      submit,
      h("button", { class: "btn secondary", type: "button", onclick: preview }, "Xem sự kiện sẽ bị bỏ qua"),
      h("button", { class: "btn secondary", type: "button", onclick: () => close(null) }, "Hủy"),
    ),
  );
}

const STEP_UP_REUSE_MS = 4 * 60_000;
const KIND_LABELS = { upsert: "Cập nhật", delete: "Xóa" };

function skippedList(unitPreview, context) {
  const title = `${context.unitName(unitPreview.unit)}: phát lại sự kiện ${unitPreview.replay_from_sequence}–${unitPreview.replay_to_sequence}, bỏ qua ${formatNumber(unitPreview.skipped_events)} sự kiện`;
  if (!unitPreview.skipped.length) return h("p", { class: "small" }, title);
  return h(
    "div",
    { class: "table-wrap", dataset: { unit: unitPreview.unit } },
    h("p", { class: "small" }, title),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["Số thứ tự", "Thời điểm", "Loại", "Văn bản", "Phiên bản", "Nguồn"].map((label) => h("th", { scope: "col" }, label)))),
      h(
        "tbody",
        {},
        unitPreview.skipped.map((e) =>
          h(
            "tr",
            {},
            h("td", { class: "num" }, String(e.sequence)),
            h("td", {}, e.stored_at ? formatDateTime(e.stored_at) : ""),
            h("td", {}, KIND_LABELS[e.kind] || e.kind),
            h("td", {}, e.document_id),
            h("td", { class: "num" }, String(e.version)),
            h("td", {}, e.source),
          ),
        ),
      ),
    ),
  );
}

const seconds = (value) => `${value.toLocaleString("vi-VN", { maximumFractionDigits: 2 })} giây`;

function phaseList(phases) {
  return h("ul", { class: "small" }, phases.map((p) => h("li", {}, `${PHASE_LABELS[p.name] || p.name}: ${seconds(p.seconds)}`)));
}

function showReport(area, report, context) {
  replace(
    area,
    h(
      "div",
      { class: "card", "data-testid": "restore-report" },
      h("h2", {}, "Báo cáo khôi phục"),
      h("p", {}, h("span", { class: "badge ok" }, "Hoàn tất"), ` Bản chụp ${report.snapshot_id} · tổng thời gian ${seconds(report.seconds)}`),
      report.restored_buckets.length ? h("p", { class: "small" }, `Kho dùng chung được ghi lại: ${report.restored_buckets.join(", ")}`) : null,
      report.phases.length ? phaseList(report.phases) : null,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["Đơn vị", "Văn bản", "Đoạn", "Sự kiện phát lại", "Phát lại", "Bản gốc thiếu"].map((label) => h("th", { scope: "col" }, label)))),
          h(
            "tbody",
            {},
            report.units.map((u) =>
              h(
                "tr",
                { dataset: { unit: u.unit } },
                h("td", {}, context.unitName(u.unit), phaseList(u.phases)),
                h("td", { class: "num" }, formatNumber(u.documents)),
                h("td", { class: "num" }, formatNumber(u.chunks)),
                h("td", { class: "num" }, (u.replayed_events ? `${formatNumber(u.replayed_events)} (sự kiện ${u.replay_from_sequence}–${u.replay_to_sequence})` : "0") + (u.skipped_events ? ` · bỏ qua ${formatNumber(u.skipped_events)}` : "")),
                h("td", {}, u.replay_complete ? h("span", { class: "badge ok" }, "Đầy đủ") : h("span", { class: "badge bad" }, u.replay_note || "Chưa đầy đủ")),
                h("td", {}, u.missing_originals.length ? u.missing_originals.join(", ") : "Không"),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}
