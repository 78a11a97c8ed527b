// The audit trail (ministry admins): who did what, when, from where, with what outcome; newest
// first, every action in Vietnamese, times as dd/mm/yyyy HH:mm in Vietnam time; filters, "show
// older" (the next page), and export as JSON lines.

import { api } from "../api.js";
import { download, formatDateTime, h, replace, toast } from "../dom.js";

// The API reads the trail newest first (`order=newest`): the page asks for one page of PAGE_SIZE
// events, and the next (older) one only when "Xem cũ hơn" is pressed, by the API's cursor.
const PAGE_SIZE = 100;
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
  "snapshot.restore_denied": "Không được phép khôi phục",
  "snapshot.delete_denied": "Không được phép xóa bản sao lưu",
  "unit.deleted": "Xóa đơn vị",
  "unit.test_question_saved": "Lưu câu hỏi kiểm tra",
  "unit.test_question_deleted": "Xóa câu hỏi kiểm tra",
  "unit.test_questions_imported": "Nhập bộ câu hỏi kiểm tra",
  "unit.test_run_started": "Chạy bộ câu hỏi kiểm tra",
  "unit.spot_check_run": "Kiểm tra nhanh câu trả lời",
  "event_credential.issued": "Cấp thông tin xác thực gửi sự kiện",
  "event_credential.revoked": "Thu hồi thông tin xác thực gửi sự kiện",
};
// An action this page does not know yet reads as "<what>: <done>" from these words.
const ACTION_NOUNS = {
  login: "Đăng nhập", otp: "OTP", token: "Phiên đăng nhập", account: "Tài khoản", policy: "Chính sách",
  signing_key: "Khóa ký", audit: "Nhật ký", access: "Truy cập", unit: "Đơn vị", document: "Văn bản",
  faq: "Câu hỏi thường gặp", api_key: "Khóa API", snapshot: "Bản sao lưu", event_credential: "Thông tin xác thực sự kiện",
  test_question: "Câu hỏi kiểm tra", test_questions: "Bộ câu hỏi kiểm tra", test_run: "Lượt kiểm tra",
};
const ACTION_VERBS = {
  created: "tạo", saved: "lưu", deleted: "xóa", issued: "cấp", revoked: "thu hồi", taken: "tạo", restored: "khôi phục",
  denied: "bị từ chối", refused: "bị từ chối", failed: "thất bại", changed: "thay đổi", started: "bắt đầu",
  imported: "nhập", run: "chạy", enabled: "mở khóa", disabled: "khóa", reset: "đặt lại", rotated: "xoay vòng",
  exported: "xuất", queried: "tra cứu", upserted: "tải lên", reindexed: "lập chỉ mục lại", promoted: "đưa vào bộ kiểm tra",
};

/** The Vietnamese name of an audit action; an unknown one in readable words, never a bare code. */
export function actionLabel(action) {
  if (ACTION_LABELS[action]) return ACTION_LABELS[action];
  const [noun, ...rest] = action.split(".");
  const words = (rest.join(".") || "").split("_").map((word) => ACTION_VERBS[word] || ACTION_NOUNS[word] || word);
  const subject = ACTION_NOUNS[noun] || noun.replaceAll("_", " ");
  return words.filter(Boolean).length ? `${subject}: ${words.join(" ")}` : subject;
}
const OUTCOMES = { success: ["ok", "Thành công"], failure: ["bad", "Thất bại"], denied: ["bad", "Bị từ chối"] };

/** "2026-11-27T08:00" (datetime-local, local time) → ISO with offset; "" stays "". */
function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : "";
}

export async function render(container) {
  const inputs = {
    since: h("input", { type: "datetime-local", id: "audit-since" }),
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
  const more = h("button", { class: "btn secondary hidden", type: "button" }, "Xem cũ hơn");
  let shown = 0;
  let cursor = null;
  let query = {};
  let generation = 0;

  const filters = () => ({
    since: isoFromLocal(inputs.since.value),
    until: isoFromLocal(inputs.until.value),
    actor: inputs.actor.value.trim(),
    action: inputs.action.value.trim(),
    unit: inputs.unit.value.trim(),
    outcome: inputs.outcome.value,
  });

  // A new search (the filters as they are now), or the next older page of the current one.
  async function load() {
    generation += 1;
    query = filters();
    cursor = null;
    shown = 0;
    replace(body);
    await fetchPage(generation);
  }

  async function fetchPage(asked) {
    more.classList.add("hidden");
    more.disabled = true;
    status.textContent = "Đang tải…";
    try {
      const page = await api("/v1/audit", { query: { ...query, order: "newest", limit: PAGE_SIZE, cursor: cursor || "" } });
      if (asked !== generation) return; // a newer search replaced this one
      for (const event of page.events) body.append(row(event));
      shown += page.events.length;
      cursor = page.next_cursor;
      more.classList.toggle("hidden", !cursor);
      status.textContent = shown
        ? `Đang hiện ${shown.toLocaleString("vi-VN")} sự kiện, mới nhất trước` + (cursor ? "; bấm “Xem cũ hơn” để xem tiếp." : ".")
        : cursor
          ? "Chưa thấy sự kiện khớp bộ lọc trong phần đã đọc; bấm “Xem cũ hơn” để đọc tiếp."
          : "Không có sự kiện nào khớp bộ lọc.";
    } catch (error) {
      if (asked === generation) {
        status.textContent = error.message;
        more.classList.toggle("hidden", !cursor);
      }
    } finally {
      more.disabled = false;
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
      h("td", { dataset: { action: event.action } }, actionLabel(event.action), h("div", { class: "small muted mono" }, event.action)),
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
  more.addEventListener("click", () => fetchPage(generation));
  replace(
    container,
    h("h1", {}, "Nhật ký kiểm toán"),
    h(
      "form",
      { class: "card", "aria-label": "Bộ lọc nhật ký", onsubmit: (event) => { event.preventDefault(); load(); } },
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
        { class: "audit", "aria-label": "Sự kiện kiểm toán" },
        h("thead", {}, h("tr", {}, ["Thời điểm", "Người thực hiện", "Hành động", "Kết quả", "Đơn vị", "Đối tượng", "Chi tiết"].map((label) => h("th", { scope: "col" }, label)))),
        body,
      ),
    ),
    more,
  );
  await load();
}
