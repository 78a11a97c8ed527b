// The audit trail (ministry admins): who did what, when, from where, with what outcome; filters,
// "load more" paging, and export as JSON lines.

import { api } from "../api.js";
import { download, formatDateTime, h, replace, toast } from "../dom.js";

const PAGE_SIZE = 100;
const DEFAULT_DAYS = 1;
export const ACTION_LABELS = {
  "login.password": "Đăng nhập (mật khẩu)",
  "login.otp": "Đăng nhập (OTP)",
  "login.recovery_code": "Đăng nhập (mã khôi phục)",
  "login.locked_out": "Tạm khóa đăng nhập",
  "login.step_up": "Xác nhận lại bằng OTP",
  "otp.enrolment_started": "Bắt đầu đăng ký OTP",
  "otp.enrolment_confirmed": "Đăng ký OTP xong",
  "token.refreshed": "Làm mới phiên",
  "token.reuse_detected": "Phát hiện dùng lại token",
  "token.logout": "Đăng xuất",
  "account.created": "Tạo tài khoản",
  "account.role_changed": "Đổi vai trò",
  "account.disabled": "Khóa tài khoản",
  "account.enabled": "Mở khóa tài khoản",
  "account.otp_reset": "Đặt lại OTP",
  "account.password_changed": "Đổi mật khẩu",
  "policy.changed": "Đổi chính sách đăng nhập",
  "signing_key.rotated": "Xoay khóa ký",
  "audit.queried": "Tra cứu nhật ký",
  "audit.exported": "Xuất nhật ký",
  "access.denied": "Bị từ chối truy cập",
  "unit.saved": "Tạo hoặc đổi tên đơn vị",
  "unit.answer_threshold_changed": "Đổi ngưỡng tin cậy",
  "document.upserted": "Tải lên / thay văn bản",
  "document.deleted": "Xóa văn bản",
  "document.reindexed": "Lập chỉ mục lại văn bản",
  "faq.created": "Thêm câu hỏi thường gặp",
  "faq.saved": "Sửa câu hỏi thường gặp",
  "faq.deleted": "Xóa câu hỏi thường gặp",
  "api_key.issued": "Cấp khóa API",
  "api_key.revoked": "Thu hồi khóa API",
  "snapshot.taken": "Tạo bản sao lưu",
  "snapshot.restored": "Khôi phục bản sao lưu",
  "snapshot.restore_refused": "Từ chối khôi phục",
  "snapshot.restore_failed": "Khôi phục thất bại",
  "snapshot.deleted": "Xóa bản sao lưu",
};
const OUTCOMES = { success: ["ok", "Thành công"], failure: ["bad", "Thất bại"], denied: ["bad", "Bị từ chối"] };

/** "2026-11-27T08:00" (datetime-local, local time) → ISO with offset; "" stays "". */
function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : "";
}

/** A moment as a datetime-local value (local time, minutes). */
function localValue(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

export async function render(container) {
  const inputs = {
    // The trail reads oldest first: start from the last day so the first page is recent.
    since: h("input", { type: "datetime-local", id: "audit-since", value: localValue(new Date(Date.now() - DEFAULT_DAYS * 86_400_000)) }),
    until: h("input", { type: "datetime-local", id: "audit-until" }),
    actor: h("input", { id: "audit-actor", placeholder: "user:nguyen.van.a" }),
    action: h("input", { id: "audit-action", list: "audit-actions", placeholder: "login.otp" }),
    unit: h("input", { id: "audit-unit", placeholder: "cuc-bao-chi" }),
    outcome: h(
      "select",
      { id: "audit-outcome" },
      h("option", { value: "" }, "Mọi kết quả"),
      Object.entries(OUTCOMES).map(([value, [, label]]) => h("option", { value }, label)),
    ),
  };
  const actions = h("datalist", { id: "audit-actions" }, Object.entries(ACTION_LABELS).map(([value, label]) => h("option", { value }, label)));
  const body = h("tbody");
  const status = h("p", { class: "small muted", role: "status" });
  const more = h("button", { class: "btn secondary hidden", type: "button" }, "Tải thêm");
  let after = 0;
  let shown = 0;

  const filters = () => ({
    since: isoFromLocal(inputs.since.value),
    until: isoFromLocal(inputs.until.value),
    actor: inputs.actor.value.trim(),
    action: inputs.action.value.trim(),
    unit: inputs.unit.value.trim(),
    outcome: inputs.outcome.value,
  });

  async function load(reset) {
    if (reset) {
      after = 0;
      shown = 0;
      replace(body);
    }
    status.textContent = "Đang tải…";
    try {
      const page = await api("/v1/audit", { query: { ...filters(), limit: PAGE_SIZE, after } });
      for (const event of page.events) body.append(row(event));
      shown += page.events.length;
      after = page.next_after;
      more.classList.toggle("hidden", !page.more);
      status.textContent = shown ? `${shown} sự kiện${page.more ? " (còn nữa)" : ""}.` : "Không có sự kiện nào khớp bộ lọc.";
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function row(event) {
    const [kind, label] = OUTCOMES[event.outcome] || ["info", event.outcome];
    const details = Object.entries(event.details || {}).map(([key, value]) => `${key}=${value}`).join(", ");
    return h(
      "tr",
      {},
      h("td", { class: "nowrap" }, formatDateTime(event.occurred_at)),
      h("td", {}, event.actor),
      h("td", {}, ACTION_LABELS[event.action] || event.action, h("div", { class: "small muted mono" }, event.action)),
      h("td", {}, h("span", { class: `badge ${kind}` }, label)),
      h("td", {}, event.unit || "—"),
      h("td", {}, event.target || "—"),
      h("td", { class: "small" }, [event.reason, details].filter(Boolean).join(" · ") || "—", event.client_address ? h("div", { class: "muted mono" }, event.client_address) : null),
    );
  }

  async function exportAll() {
    try {
      const response = await api("/v1/audit/export", { query: filters(), raw: true });
      download(`nhat-ky-${new Date().toISOString().slice(0, 10)}.jsonl`, await response.blob());
    } catch (error) {
      toast(error.message, { bad: true });
    }
  }

  const field = (input, label) => h("div", { class: "field" }, h("label", { for: input.id }, label), input);
  more.addEventListener("click", () => load(false));
  replace(
    container,
    h("h1", {}, "Nhật ký kiểm toán"),
    h(
      "form",
      { class: "card", "aria-label": "Bộ lọc nhật ký", onsubmit: (event) => { event.preventDefault(); load(true); } },
      h(
        "div",
        { class: "grid2" },
        field(inputs.since, "Từ thời điểm"),
        field(inputs.until, "Đến thời điểm"),
        field(inputs.actor, "Người thực hiện"),
        field(inputs.action, "Hành động"),
        field(inputs.unit, "Đơn vị"),
        field(inputs.outcome, "Kết quả"),
      ),
      actions,
      h("div", { class: "row" }, h("button", { class: "btn", type: "submit" }, "Lọc"), h("button", { class: "btn secondary", type: "button", onclick: exportAll }, "Xuất JSONL")),
    ),
    status,
    h(
      "div",
      { class: "table-wrap card" },
      h(
        "table",
        { "aria-label": "Sự kiện kiểm toán" },
        h("thead", {}, h("tr", {}, ["Thời điểm", "Người thực hiện", "Hành động", "Kết quả", "Đơn vị", "Đối tượng", "Chi tiết"].map((label) => h("th", { scope: "col" }, label)))),
        body,
      ),
    ),
    more,
  );
  await load(true);
}
