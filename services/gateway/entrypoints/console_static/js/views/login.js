// Login: password, then the code from the authenticator app (or a recovery code); on first login,
// enrolment: the QR code to scan, the first code, and the ten recovery codes shown once.

import { api, session } from "../api.js";
import { alertBox, download, h, replace, setAlert, toast } from "../dom.js";

const CODE_PATTERN = "[0-9]{6}";

/** Render the login card into `container`; `onLoggedIn()` runs once tokens are kept. */
export function render(container, { message = "", onLoggedIn }) {
  const card = h("div", { class: "card" });
  replace(
    container,
    h(
      "div",
      { class: "login", id: "main" },
      h("h1", {}, "Bảng điều khiển trợ lý ảo"),
      h("p", { class: "muted" }, "Dành cho cán bộ các đơn vị và đội vận hành của Bộ."),
      card,
    ),
  );
  passwordStep(card, message, onLoggedIn);
}

function codeInput(id) {
  return h("input", {
    id,
    class: "code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: CODE_PATTERN,
    maxlength: "6",
    required: true,
    title: "6 chữ số",
  });
}

/** A form whose submit handler shows the server's Vietnamese error in `message`. */
function stepForm(message, submitLabel, handler, ...fields) {
  const submit = h("button", { class: "btn", type: "submit" }, submitLabel);
  return h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        setAlert(message, "");
        try {
          await handler();
        } catch (error) {
          setAlert(message, error.message);
        } finally {
          submit.disabled = false;
        }
      },
    },
    fields,
    message,
    h("div", { class: "row" }, submit),
  );
}

function passwordStep(card, notice, onLoggedIn) {
  const message = alertBox(notice, notice ? "info" : "");
  const username = h("input", { id: "login-username", autocomplete: "username", required: true, autocapitalize: "none" });
  const password = h("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
  replace(
    card,
    h("h2", {}, "Đăng nhập"),
    stepForm(
      message,
      "Tiếp tục",
      async () => {
        const step = await api("/v1/auth/login", {
          method: "POST",
          auth: false,
          body: { username: username.value.trim(), password: password.value },
        });
        await nextStep(card, step, onLoggedIn);
      },
      h("div", { class: "field" }, h("label", { for: "login-username" }, "Tên đăng nhập"), username),
      h("div", { class: "field" }, h("label", { for: "login-password" }, "Mật khẩu"), password),
    ),
  );
  username.focus();
}

async function nextStep(card, step, onLoggedIn) {
  if (step.next === "done" && step.tokens) {
    session.save(step.tokens);
    if (step.recovery_codes_left !== null && step.recovery_codes_left !== undefined) {
      toast(`Còn ${step.recovery_codes_left} mã khôi phục chưa dùng.`);
    }
    await onLoggedIn();
  } else if (step.next === "otp") {
    otpStep(card, step.challenge_id, onLoggedIn);
  } else if (step.next === "enrol") {
    await enrolStep(card, step.challenge_id, onLoggedIn);
  } else {
    throw new Error("Máy chủ trả về bước đăng nhập không xác định.");
  }
}

function otpStep(card, challengeId, onLoggedIn) {
  const message = alertBox("");
  const code = codeInput("login-otp");
  replace(
    card,
    h("h2", {}, "Nhập mã xác thực"),
    h("p", {}, "Mở ứng dụng Google Authenticator hoặc Microsoft Authenticator và nhập mã 6 chữ số của Trợ lý ảo."),
    stepForm(
      message,
      "Đăng nhập",
      async () => {
        const step = await api("/v1/auth/login/otp", {
          method: "POST",
          auth: false,
          body: { challenge_id: challengeId, code: code.value.trim() },
        });
        await nextStep(card, step, onLoggedIn);
      },
      h("div", { class: "field" }, h("label", { for: "login-otp" }, "Mã OTP"), code),
    ),
    h("p", { class: "small" }, h("button", { class: "btn link", type: "button", onclick: () => recoveryStep(card, challengeId, onLoggedIn) }, "Mất điện thoại? Dùng mã khôi phục")),
  );
  code.focus();
}

function recoveryStep(card, challengeId, onLoggedIn) {
  const message = alertBox("");
  const code = h("input", { id: "login-recovery", autocomplete: "off", required: true, autocapitalize: "characters" });
  replace(
    card,
    h("h2", {}, "Đăng nhập bằng mã khôi phục"),
    h("p", {}, "Nhập một trong 10 mã khôi phục đã lưu khi đăng ký. Mỗi mã chỉ dùng được một lần."),
    stepForm(
      message,
      "Đăng nhập",
      async () => {
        const step = await api("/v1/auth/login/recovery", {
          method: "POST",
          auth: false,
          body: { challenge_id: challengeId, recovery_code: code.value.trim() },
        });
        await nextStep(card, step, onLoggedIn);
      },
      h("div", { class: "field" }, h("label", { for: "login-recovery" }, "Mã khôi phục"), code),
    ),
    h("p", { class: "small" }, h("button", { class: "btn link", type: "button", onclick: () => otpStep(card, challengeId, onLoggedIn) }, "Quay lại nhập mã OTP")),
  );
  code.focus();
}

/** Group a base32 secret by four for reading aloud / typing. */
const grouped = (secret) => secret.replace(/(.{4})/g, "$1 ").trim();

async function enrolStep(card, challengeId, onLoggedIn) {
  const enrolment = await api("/v1/auth/enrolment/start", { method: "POST", auth: false, body: { challenge_id: challengeId } });
  const message = alertBox("");
  const code = codeInput("enrol-otp");
  replace(
    card,
    h("h2", {}, "Đăng ký ứng dụng xác thực"),
    h("p", {}, "Tài khoản của bạn cần mã OTP khi đăng nhập. Quét mã QR dưới đây bằng Google Authenticator hoặc Microsoft Authenticator."),
    h("img", { class: "qr", src: `data:image/png;base64,${enrolment.qr_png_base64}`, alt: "Mã QR đăng ký ứng dụng xác thực" }),
    h(
      "details",
      {},
      h("summary", {}, "Không quét được? Nhập khóa thủ công"),
      h("p", { class: "secret mono", "data-testid": "otp-secret", dataset: { secret: enrolment.secret } }, grouped(enrolment.secret)),
    ),
    stepForm(
      message,
      "Xác nhận",
      async () => {
        const confirmed = await api("/v1/auth/enrolment/confirm", {
          method: "POST",
          auth: false,
          body: { challenge_id: challengeId, code: code.value.trim() },
        });
        recoveryCodes(card, confirmed, onLoggedIn);
      },
      h("div", { class: "field" }, h("label", { for: "enrol-otp" }, "Mã 6 chữ số đang hiện trong ứng dụng"), code),
    ),
  );
  code.focus();
}

function recoveryCodes(card, confirmed, onLoggedIn) {
  const codes = confirmed.recovery_codes;
  const text = `Mã khôi phục Trợ lý ảo (mỗi mã dùng một lần)\n\n${codes.join("\n")}\n`;
  const saved = h("input", { type: "checkbox", id: "codes-saved" });
  const proceed = h("button", { class: "btn", type: "button", disabled: true }, "Vào bảng điều khiển");
  saved.addEventListener("change", () => {
    proceed.disabled = !saved.checked;
  });
  proceed.addEventListener("click", async () => {
    if (confirmed.tokens) {
      session.save(confirmed.tokens);
      await onLoggedIn();
    } else {
      render(card.parentElement.parentElement, { message: "Đã đăng ký. Vui lòng đăng nhập lại.", onLoggedIn });
    }
  });
  replace(
    card,
    h("h2", {}, "Lưu 10 mã khôi phục"),
    h("div", { class: "alert info" }, "Các mã này chỉ hiển thị một lần. Dùng khi mất điện thoại; mỗi mã dùng được một lần."),
    h("ol", { class: "codes", "aria-label": "Mã khôi phục", "data-testid": "recovery-codes" }, codes.map((c) => h("li", {}, c))),
    h(
      "div",
      { class: "row" },
      h("button", { class: "btn secondary small", type: "button", onclick: () => download("ma-khoi-phuc-trolyao.txt", new Blob([text], { type: "text/plain" })) }, "Tải xuống"),
      h(
        "button",
        {
          class: "btn secondary small",
          type: "button",
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(text);
              toast("Đã sao chép mã khôi phục.");
            } catch {
              toast("Trình duyệt không cho sao chép; hãy tải xuống.", { bad: true });
            }
          },
        },
        "Sao chép",
      ),
    ),
    h("p", { class: "row" }, saved, h("label", { for: "codes-saved" }, "Tôi đã lưu các mã khôi phục ở nơi an toàn")),
    proceed,
  );
}
