// The console's entry point: who is logged in, which unit is being looked at, and which page shows.
// Pages are ES modules loaded on first use (`#/chat`, `#/dashboard`, ...); each exports
// `render(container, context)` and may return a clean-up function. A ministry admin starts on the
// overview of all units (the answer-rate table, no unit chosen); a unit's staff on their unit.

import { api, session, setStepUpHandler } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { stepUp } from "./otp.js";

const UNIT_KEY = "trolyao.console.unit";
// The unit picker's value for "no unit: the overview of all units" (ministry admins).
const OVERVIEW = "";
const ROLE_LABELS = {
  ministry_admin: "Quản trị cấp Bộ",
  unit_admin: "Quản trị đơn vị",
  unit_editor: "Biên tập viên",
  viewer: "Người xem",
};

/** The pages, in menu order; `allowed(context)` hides what the account may not use. */
const PAGES = [
  { id: "chat", label: "Hỏi thử trợ lý", load: () => import("./views/chat.js"), allowed: () => true, needsUnit: true },
  { id: "dashboard", label: "Tỉ lệ trả lời", load: () => import("./views/dashboard.js"), allowed: () => true },
  { id: "gaps", label: "Câu hỏi cần bổ sung", load: () => import("./views/gaps.js"), allowed: () => true, needsUnit: true },
  { id: "quality", label: "Bộ câu hỏi kiểm tra", load: () => import("./views/quality.js"), allowed: () => true, needsUnit: true },
  { id: "documents", label: "Văn bản", load: () => import("./views/documents.js"), allowed: () => true, needsUnit: true },
  {
    id: "snapshots",
    label: "Sao lưu & khôi phục",
    group: "Vận hành",
    load: () => import("./views/snapshots.js"),
    allowed: (context) => context.isMinistryAdmin,
  },
  {
    id: "audit",
    label: "Nhật ký kiểm toán",
    group: "Vận hành",
    load: () => import("./views/audit.js"),
    allowed: (context) => context.isMinistryAdmin,
  },
  {
    id: "accounts",
    label: "Tài khoản & vai trò",
    group: "Vận hành",
    load: () => import("./views/accounts.js"),
    allowed: (context) => context.isAccountAdmin,
  },
];

const app = document.getElementById("app");
let context = null;
let cleanup = null;

/** `#/chat?q=...` → {page: "chat", params}; no page: the account's home page. */
function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  return { page: path || homePage(), params: new URLSearchParams(query) };
}

/** Ministry admins start on the overview of all units; everyone else on trying their assistant. */
function homePage() {
  return context && context.isMinistryAdmin ? "dashboard" : "chat";
}

/** Go to a page (with optional query parameters). */
export function navigate(page, params = {}) {
  const query = new URLSearchParams(params).toString();
  location.hash = `#/${page}${query ? `?${query}` : ""}`;
}

async function showLogin(message = "") {
  if (cleanup) cleanup();
  cleanup = null;
  context = null;
  const { render } = await import("./views/login.js");
  // After a login a ministry admin starts on all units; a reload keeps the unit it was on.
  render(app, { message, onLoggedIn: () => start({ loggedIn: true }) });
}

/** After login (or on reload with a token): who am I, which units, then the page. */
async function start({ loggedIn = false } = {}) {
  try {
    const [me, unitList] = await Promise.all([api("/v1/auth/me"), api("/v1/units")]);
    const units = unitList.units;
    const isMinistryAdmin = me.role === "ministry_admin";
    // A ministry admin who logs in sees every unit first, whatever unit was open last time.
    const remembered = isMinistryAdmin && loggedIn ? OVERVIEW : localStorage.getItem(UNIT_KEY);
    context = {
      me,
      units,
      // A ministry admin looks at all units until choosing one; a unit's staff at their (first) unit.
      unit: units.some((u) => u.unit_id === remembered) ? remembered : isMinistryAdmin ? OVERVIEW : units[0]?.unit_id || "",
      isMinistryAdmin,
      isAccountAdmin: me.role === "ministry_admin" || me.role === "unit_admin",
      can: (scope) => me.scopes.includes(scope) || (scope !== "admin" && me.scopes.includes("admin")),
      unitName: (id) => units.find((u) => u.unit_id === id)?.name || id,
      navigate,
      setUnit,
    };
    renderShell();
    await showPage();
  } catch (error) {
    // Clearing the session shows the login page (with the reason) through `session.onEnd`.
    if (session.active) session.clear(error.message);
    else showLogin(error.message);
  }
}

function setUnit(unit) {
  context.unit = unit;
  if (unit === OVERVIEW) localStorage.removeItem(UNIT_KEY);
  else localStorage.setItem(UNIT_KEY, unit);
  const picker = document.getElementById("unit-picker");
  if (picker) picker.value = unit;
  showPage();
}

async function logout() {
  try {
    await api("/v1/auth/logout", { method: "POST", body: {} });
  } catch {
    // Already ended server-side: forgetting the tokens is what matters here.
  }
  session.clear();
}

function renderShell() {
  const { me, units } = context;
  const picker = h(
    "select",
    { id: "unit-picker", "aria-label": "Đơn vị", onchange: (event) => setUnit(event.target.value), value: context.unit },
    context.isMinistryAdmin ? h("option", { value: OVERVIEW }, "Tất cả đơn vị (tổng quan)") : null,
    units.map((u) => h("option", { value: u.unit_id }, u.name || u.unit_id)),
  );
  const username = me.subject.replace(/^user:/, "");
  const nav = h("nav", { class: "nav", "aria-label": "Chức năng" });
  let group = "";
  for (const page of PAGES.filter((p) => p.allowed(context))) {
    if (page.group && page.group !== group) {
      group = page.group;
      nav.append(h("div", { class: "group" }, group));
    }
    nav.append(h("a", { href: `#/${page.id}`, dataset: { page: page.id } }, page.label));
  }
  replace(
    app,
    h(
      "header",
      { class: "topbar" },
      h("div", { class: "brand" }, "Trợ lý ảo ", h("small", {}, "· Bảng điều khiển")),
      units.length || context.isMinistryAdmin ? picker : h("span", {}, "Chưa được gán đơn vị nào"),
      h("span", { class: "who" }, `${username} · ${ROLE_LABELS[me.role] || me.role || ""}`),
      h("button", { class: "btn secondary small", type: "button", onclick: logout }, "Đăng xuất"),
    ),
    h("div", { class: "shell" }, nav, h("main", { id: "main", tabindex: "-1" })),
  );
}

// Each showPage call is one generation; only the newest draws. Pages are picked quickly (a unit
// chosen, then a menu link, before the first page's module has even loaded), so an earlier call
// must not render over the page the person moved on to: every page renders into its own element,
// which is shown only while its generation is the newest.
let generation = 0;

async function showPage() {
  if (!context) return;
  const mine = ++generation;
  const { page, params } = route();
  const allowed = PAGES.filter((p) => p.allowed(context));
  const target = allowed.find((p) => p.id === page) || allowed[0];
  for (const link of document.querySelectorAll(".nav a")) {
    if (link.dataset.page === target.id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  if (cleanup) cleanup();
  cleanup = null;
  replace(main, h("p", { class: "muted" }, "Đang tải…"));
  document.title = `${target.label} · Trợ lý ảo`;
  if (target.needsUnit && !context.unit) {
    replace(main, h("h1", {}, target.label), chooseUnit());
    return;
  }
  const view = h("div", { class: "view", dataset: { page: target.id } });
  try {
    const module = await target.load();
    if (mine !== generation) return;
    replace(main, view);
    const ended = (await module.render(view, { ...context, params })) || null;
    if (mine === generation) cleanup = ended;
    else if (ended) ended();
  } catch (error) {
    if (mine === generation) replace(main, h("div", { class: "alert", role: "alert" }, error.message || String(error)));
  }
}

/** What a page about one unit shows while none is chosen. */
function chooseUnit() {
  if (!context.isMinistryAdmin) return h("div", { class: "alert info" }, "Tài khoản chưa được gán đơn vị nào.");
  return h(
    "div",
    { class: "alert info" },
    "Trang này xem theo từng đơn vị: hãy chọn một đơn vị ở ô “Đơn vị” phía trên, hoặc từ ",
    h("a", { href: "#/dashboard" }, "bảng tỉ lệ trả lời của tất cả đơn vị"),
    ".",
  );
}

setStepUpHandler(() => stepUp());
session.onEnd((reason) => showLogin(reason));
window.addEventListener("hashchange", () => (context ? showPage() : undefined));
window.addEventListener("unhandledrejection", (event) => {
  const message = event.reason && event.reason.message;
  if (message) toast(message, { bad: true });
});

if (session.active) start();
else showLogin();
