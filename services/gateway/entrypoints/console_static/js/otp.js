// Asking for a one-time code: step-up before dangerous operations (restore, accounts, roles).

import { api, session } from "./api.js";
import { alertBox, h, modal, setAlert } from "./dom.js";

const CODE_PATTERN = "[0-9]{6}";

/**
 * Show a dialog asking for the 6-digit code from the authenticator app, post it to
 * /v1/auth/step-up and keep the new access token. Resolves true once confirmed, false if cancelled.
 */
export function stepUp({ title = "Xác nhận bằng mã OTP", reason = "" } = {}) {
  return modal(
    (close) => {
      const message = alertBox("");
      const input = h("input", {
        id: "step-up-code",
        class: "code",
        inputmode: "numeric",
        autocomplete: "one-time-code",
        pattern: CODE_PATTERN,
        maxlength: "6",
        required: true,
      });
      const submit = h("button", { class: "btn", type: "submit" }, "Xác nhận");
      return h(
        "form",
        {
          onsubmit: async (event) => {
            event.preventDefault();
            submit.disabled = true;
            try {
              session.save(await api("/v1/auth/step-up", { method: "POST", body: { code: input.value.trim() }, retried: true }));
              close(true);
            } catch (error) {
              setAlert(message, error.message);
              input.select();
            } finally {
              submit.disabled = false;
            }
          },
        },
        h("h2", {}, title),
        h(
          "p",
          {},
          reason || "Thao tác này cần xác nhận lại danh tính.",
          " Nhập mã 6 chữ số đang hiện trong ứng dụng xác thực (Google/Microsoft Authenticator).",
        ),
        h("div", { class: "field" }, h("label", { for: "step-up-code" }, "Mã OTP"), input),
        message,
        h(
          "div",
          { class: "row" },
          submit,
          h("button", { class: "btn secondary", type: "button", onclick: () => close(false) }, "Hủy"),
        ),
      );
    },
    { label: title },
  ).then((confirmed) => confirmed === true);
}
