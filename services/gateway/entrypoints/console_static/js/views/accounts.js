// Accounts and roles (ministry admins: everyone; unit admins: their units' editors and viewers):
// create (initial password shown once), change role and units, lock / unlock, reset the
// authenticator. Each change asks for a fresh OTP when the last one is too old (step-up).

import { api, apiAll } from "../api.js";
import { alertBox, confirmDialog, formatDateTime, h, modal, replace, setAlert, toast } from "../dom.js";

export const ROLE_LABELS = {
  ministry_admin: "Quản trị cấp Bộ",
  unit_admin: "Quản trị đơn vị",
  unit_editor: "Biên tập viên",
  viewer: "Người xem",
};

/** The roles `me` may give: unit admins manage editors and viewers only. */
function grantableRoles(context) {
  return context.isMinistryAdmin ? Object.keys(ROLE_LABELS) : ["unit_editor", "viewer"];
}

export async function render(container, context) {
  const body = h("tbody");
  const status = h("p", { class: "small muted", role: "status" });
  const account = (username) => `/v1/accounts/${encodeURIComponent(username)}`;

  async function load() {
    try {
      const accounts = await apiAll("/v1/accounts", "accounts");
      replace(body, accounts.sort((a, b) => a.username.localeCompare(b.username)).map(row));
      status.textContent = `${accounts.length} tài khoản.`;
    } catch (error) {
      status.textContent = error.message;
    }
  }

  async function change(action, success) {
    try {
      await action();
      toast(success);
    } catch (error) {
      toast(error.message, { bad: true });
    }
    await load();
  }

  function row(a) {
    const self = context.me.subject === `user:${a.username}`;
    return h(
      "tr",
      { dataset: { username: a.username } },
      h("td", {}, h("div", {}, a.display_name || a.username), h("div", { class: "small muted mono" }, a.username)),
      h("td", {}, ROLE_LABELS[a.role] || a.role),
      h("td", {}, a.units.length ? a.units.map((u) => context.unitName(u)).join(", ") : a.role === "ministry_admin" ? "Mọi đơn vị" : "—"),
      h("td", {}, a.otp_enrolled ? h("span", { class: "badge ok" }, "Đã đăng ký") : h("span", { class: "badge wait" }, "Chưa đăng ký"), a.otp_enrolled ? h("div", { class: "small muted" }, `${a.recovery_codes_left} mã khôi phục`) : null),
      h("td", {}, a.disabled ? h("span", { class: "badge bad" }, "Đã khóa") : h("span", { class: "badge ok" }, "Hoạt động")),
      h("td", { class: "small", title: `Tạo bởi ${a.created_by}` }, formatDateTime(a.created_at)),
      h(
        "td",
        { class: "nowrap" },
        self
          ? h("span", { class: "small muted" }, "Tài khoản của bạn")
          : [
              h("button", { class: "btn secondary small", type: "button", onclick: () => editRole(a) }, "Đổi vai trò"),
              " ",
              h(
                "button",
                {
                  class: a.disabled ? "btn secondary small" : "btn danger small",
                  type: "button",
                  onclick: () => change(() => api(`${account(a.username)}/status`, { method: "PUT", body: { disabled: !a.disabled } }), a.disabled ? "Đã mở khóa tài khoản." : "Đã khóa tài khoản; mọi phiên đăng nhập của tài khoản đã kết thúc."),
                },
                a.disabled ? "Mở khóa" : "Khóa",
              ),
              " ",
              a.otp_enrolled
                ? h(
                    "button",
                    {
                      class: "btn secondary small",
                      type: "button",
                      onclick: async () => {
                        if (await confirmDialog("Đặt lại OTP?", `${a.username} sẽ phải quét mã QR mới ở lần đăng nhập sau; các mã khôi phục cũ hết hiệu lực.`, { confirm: "Đặt lại OTP", danger: true })) {
                          await change(() => api(`${account(a.username)}/otp-reset`, { method: "POST" }), "Đã đặt lại OTP.");
                        }
                      },
                    },
                    "Đặt lại OTP",
                  )
                : null,
            ],
      ),
    );
  }

  async function editRole(a) {
    const saved = await modal((close) => roleForm(context, { title: `Đổi vai trò của ${a.username}`, role: a.role, units: a.units, submitLabel: "Lưu vai trò", onSubmit: async ({ role, units }) => close(await api(`${account(a.username)}/role`, { method: "PUT", body: { role, units } })), onCancel: () => close(null) }), { label: "Đổi vai trò" });
    if (saved) {
      toast("Đã đổi vai trò; các phiên đăng nhập của tài khoản đã kết thúc.");
      await load();
    }
  }

  async function create() {
    const created = await modal((close) => {
      const username = h("input", { id: "acc-username", required: true, pattern: "[a-z0-9][a-z0-9._\\-]{2,63}", autocapitalize: "none", placeholder: "tran.thi.b" });
      const displayName = h("input", { id: "acc-name", maxlength: "200", placeholder: "Trần Thị B" });
      return roleForm(context, {
        title: "Tạo tài khoản",
        role: "unit_editor",
        units: context.unit ? [context.unit] : [],
        submitLabel: "Tạo tài khoản",
        extra: [
          h("div", { class: "field" }, h("label", { for: "acc-username" }, "Tên đăng nhập"), username),
          h("div", { class: "field" }, h("label", { for: "acc-name" }, "Họ và tên"), displayName),
        ],
        onSubmit: async ({ role, units }) => close(await api("/v1/accounts", { method: "POST", body: { username: username.value.trim(), display_name: displayName.value.trim(), role, units } })),
        onCancel: () => close(null),
      });
    }, { label: "Tạo tài khoản" });
    if (!created) return;
    await modal((close) =>
      h(
        "div",
        {},
        h("h2", {}, "Đã tạo tài khoản"),
        h("p", {}, `Tên đăng nhập: ${created.account.username}`),
        h("p", {}, "Mật khẩu ban đầu (chỉ hiển thị lần này; người dùng đổi sau khi đăng nhập):"),
        h("p", { class: "secret mono", "data-testid": "initial-password" }, created.initial_password),
        h("button", { class: "btn", type: "button", onclick: () => close(true) }, "Đã ghi lại"),
      ),
    { label: "Mật khẩu ban đầu" });
    await load();
  }

  replace(
    container,
    h("div", { class: "spread" }, h("h1", {}, "Tài khoản & vai trò"), h("button", { class: "btn", type: "button", onclick: create }, "Tạo tài khoản")),
    h("p", { class: "muted" }, "Đổi vai trò, khóa tài khoản hay đặt lại OTP kết thúc mọi phiên đăng nhập của tài khoản đó, và cần mã OTP vừa nhập."),
    status,
    h(
      "div",
      { class: "table-wrap card" },
      h(
        "table",
        { "aria-label": "Tài khoản", "data-testid": "accounts-table" },
        h("thead", {}, h("tr", {}, ["Tài khoản", "Vai trò", "Đơn vị", "OTP", "Trạng thái", "Tạo lúc", "Thao tác"].map((label) => h("th", { scope: "col" }, label)))),
        body,
      ),
    ),
  );
  await load();
}

/** Role and units, plus `extra` fields; calls onSubmit({role, units}) and shows its error. */
function roleForm(context, { title, role, units, submitLabel, extra = [], onSubmit, onCancel }) {
  const message = alertBox("");
  const roleSelect = h("select", { id: "acc-role", value: role }, grantableRoles(context).map((r) => h("option", { value: r }, ROLE_LABELS[r])));
  const boxes = context.units.map((u) => h("input", { type: "checkbox", value: u.unit_id, id: `acc-unit-${u.unit_id}`, checked: units.includes(u.unit_id) }));
  const unitList = h(
    "fieldset",
    { class: "field" },
    h("legend", {}, "Đơn vị"),
    h("div", { class: "stack small", style: { maxHeight: "12rem", overflow: "auto" } }, boxes.map((box, index) => h("div", { class: "row" }, box, h("label", { for: box.id }, context.units[index].name)))),
  );
  const syncUnits = () => unitList.classList.toggle("hidden", roleSelect.value === "ministry_admin");
  roleSelect.addEventListener("change", syncUnits);
  syncUnits();
  const submit = h("button", { class: "btn", type: "submit" }, submitLabel);
  return h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
          const chosen = roleSelect.value === "ministry_admin" ? [] : boxes.filter((b) => b.checked).map((b) => b.value);
          await onSubmit({ role: roleSelect.value, units: chosen });
        } catch (error) {
          setAlert(message, error.message);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", {}, title),
    extra,
    h("div", { class: "field" }, h("label", { for: "acc-role" }, "Vai trò"), roleSelect),
    unitList,
    message,
    h("div", { class: "row" }, submit, h("button", { class: "btn secondary", type: "button", onclick: onCancel }, "Hủy")),
  );
}
