// Building the page safely: every text goes in as a text node (never innerHTML), so questions,
// answers and document passages can never inject markup. Plus Vietnamese formatting helpers.

// Set as properties, not attributes: a textarea has no `value` attribute, and `checked` must follow.
const LIVE_PROPERTIES = new Set(["value", "checked", "selected"]);

/**
 * Create an element: h("button", {class: "btn", onclick: fn}, "Gửi").
 * Attributes starting with "on" become listeners; `dataset` and `style` objects are merged;
 * `false` / null / undefined attributes and children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  const deferred = [];
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name === "style" && typeof value === "object") {
      Object.assign(node.style, value); // CSSOM, which the Content-Security-Policy allows
    } else if (name === "class") {
      node.className = value;
    } else if (LIVE_PROPERTIES.has(name)) {
      deferred.push([name, value]); // after the children: a <select> needs its options first
    } else if (name in node && typeof value !== "string") {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  for (const [name, value] of deferred) node[name] = value;
  return node;
}

/** Append children (strings, numbers, nodes, nested arrays), skipping empty ones. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---------------------------------------------------------------- formatting (vi-VN)

const NUMBER = new Intl.NumberFormat("vi-VN");
// Moments read as in Vietnam, whatever the browser's zone: "27/11/2026 15:00".
const VIETNAM_TIME_ZONE = "Asia/Ho_Chi_Minh";
const DATE_TIME_PARTS = new Intl.DateTimeFormat("en-GB", {
  timeZone: VIETNAM_TIME_ZONE,
  day: "2-digit",
  month: "2-digit",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const RELATIVE = new Intl.RelativeTimeFormat("vi", { numeric: "auto" });

export const formatNumber = (value) => NUMBER.format(value ?? 0);

/** 0.9234 → "92,3%"; null → "—". */
export function formatRate(rate) {
  if (rate === null || rate === undefined) return "—";
  return `${(rate * 100).toLocaleString("vi-VN", { maximumFractionDigits: 1 })}%`;
}

/** "2026-11-27T08:00:00Z" → "27/11/2026 15:00" (Vietnam time); "" → "—". */
export function formatDateTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const part = Object.fromEntries(DATE_TIME_PARTS.formatToParts(date).map(({ type, value }) => [type, value]));
  return `${part.day}/${part.month}/${part.year} ${part.hour}:${part.minute}`;
}

/** "2026-11-27" → "27/11". */
export function formatDay(isoDay) {
  const [, month, day] = isoDay.split("-");
  return `${day}/${month}`;
}

/** "3 ngày trước", "hôm qua", "5 phút trước". */
export function formatAgo(iso) {
  if (!iso) return "—";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [[60, "second"], [60, "minute"], [24, "hour"], [30, "day"], [12, "month"], [Infinity, "year"]];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return RELATIVE.format(Math.round(value), unit);
    value /= size;
  }
  return formatDateTime(iso);
}

export function formatBytes(bytes) {
  if (!bytes) return "0 B";
  const units = ["B", "KB", "MB", "GB", "TB"];
  const power = Math.min(Math.floor(Math.log(bytes) / Math.log(1024)), units.length - 1);
  return `${(bytes / 1024 ** power).toLocaleString("vi-VN", { maximumFractionDigits: 1 })} ${units[power]}`;
}

/** Lower case, no diacritics (đ → d), words only: to compare questions and to make ids. */
export function fold(text) {
  return text
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/đ/g, "d")
    .replace(/Đ/g, "D")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
}

/** A document id from a file name: "Nghị định 13.pdf" → "nghi-dinh-13". */
export function slug(name) {
  const base = name.replace(/\.[^.]+$/, "");
  return fold(base).replace(/ /g, "-").slice(0, 120) || `van-ban-${Date.now()}`;
}

// ---------------------------------------------------------------- feedback to the user

/** A short message in the corner; `bad` for errors. */
export function toast(message, { bad = false, seconds = 5 } = {}) {
  const box = document.getElementById("toasts");
  const item = h("div", { class: bad ? "toast bad" : "toast", role: bad ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), seconds * 1000);
}

/** An inline alert block (role=alert), or an empty placeholder when `message` is empty. */
export function alertBox(message, kind = "") {
  return h("div", { class: `alert ${kind}`.trim(), role: "alert", hidden: !message }, message || "");
}

/** Show `message` in an alert block made by `alertBox` (hide it when empty). */
export function setAlert(box, message, kind = "") {
  box.className = `alert ${kind}`.trim();
  box.textContent = message || "";
  box.hidden = !message;
}

/**
 * A modal dialog (native <dialog>). `build(close)` returns its content; resolves with what
 * `close(value)` is called with (undefined when dismissed with Esc).
 */
export function modal(build, { label = "" } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": label });
    let result;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    append(dialog, [build(close)]);
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector("input, textarea, select, button");
    if (first) first.focus();
  });
}

/** Ask yes / no; resolves true only on the confirming button. */
export function confirmDialog(title, message, { confirm = "Đồng ý", danger = false } = {}) {
  return modal(
    (close) =>
      h(
        "form",
        { method: "dialog", onsubmit: (event) => { event.preventDefault(); close(true); } },
        h("h2", {}, title),
        h("p", {}, message),
        h(
          "div",
          { class: "row" },
          h("button", { class: danger ? "btn danger" : "btn", type: "submit" }, confirm),
          h("button", { class: "btn secondary", type: "button", onclick: () => close(false) }, "Hủy"),
        ),
      ),
    { label: title },
  );
}

/** Offer `text` as a file download (recovery codes, exports). */
export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, class: "hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Run `task` on every item with at most `limit` at a time. */
export async function eachLimited(items, limit, task) {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) await task(queue.shift());
  });
  await Promise.all(workers);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
