// The console's only way to the server: the public HTTP API, with the staff member's bearer token.
//
// - Tokens (from login) live in sessionStorage: closing the tab ends the session on this device.
// - An access token about to expire is refreshed first (one refresh at a time, shared).
// - 401 `step_up_required` (restore, roles, accounts) asks the person for a fresh OTP code through
//   the handler `main.js` installs, then retries the request once.
// - Errors are RFC 9457 problems; `ApiError.message` is the server's Vietnamese explanation.

const STORE_KEY = "trolyao.console.session";
const REFRESH_MARGIN_SECONDS = 45;
const JSON_TYPE = "application/json";

/** A failed API call: HTTP status, the problem's stable `code`, and a Vietnamese message. */
const LIST_PAGE_SIZE = 1000;

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `Lỗi máy chủ (HTTP ${status}).`);
    this.status = status;
    this.code = problem.code || "";
    this.title = problem.title || "";
    this.problem = problem;
  }
}

// ---------------------------------------------------------------- session (tokens)

let current = load();
let refreshing = null;
let stepUpHandler = null;
const listeners = new Set();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
  } catch {
    return null;
  }
}

export const session = {
  /** True while a token is held (it may still be refused by the server). */
  get active() {
    return Boolean(current && current.access_token);
  },
  get accessToken() {
    return current ? current.access_token : "";
  },
  /** Keep the tokens from a login, enrolment, refresh or step-up (refresh token kept if absent). */
  save(tokens) {
    current = {
      access_token: tokens.access_token,
      access_expires_at: tokens.access_expires_at,
      refresh_token: tokens.refresh_token || (current && current.refresh_token) || "",
    };
    sessionStorage.setItem(STORE_KEY, JSON.stringify(current));
  },
  clear(reason = "") {
    current = null;
    sessionStorage.removeItem(STORE_KEY);
    for (const listener of listeners) listener(reason);
  },
  /** Called with a Vietnamese reason when the session ends without the user logging out. */
  onEnd(listener) {
    listeners.add(listener);
  },
};

/** `handler()` asks for an OTP code, posts it to /v1/auth/step-up and resolves true when done. */
export function setStepUpHandler(handler) {
  stepUpHandler = handler;
}

async function refreshTokens() {
  if (!current || !current.refresh_token) throw new ApiError(401, { code: "session_ended" });
  if (!refreshing) {
    const refreshToken = current.refresh_token;
    refreshing = fetch("/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": JSON_TYPE, Accept: JSON_TYPE },
      body: JSON.stringify({ refresh_token: refreshToken }),
    })
      .then(async (response) => {
        if (!response.ok) throw new ApiError(response.status, await problemOf(response));
        session.save(await response.json());
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** Refresh the access token if it expires within the margin (before uploads and streams). */
export async function freshToken() {
  if (current && current.access_expires_at && current.access_expires_at - Date.now() / 1000 < REFRESH_MARGIN_SECONDS) {
    try {
      await refreshTokens();
    } catch (error) {
      session.clear("Phiên đăng nhập đã kết thúc, vui lòng đăng nhập lại.");
      throw error;
    }
  }
  return session.accessToken;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Call the API. `body`: an object (sent as JSON) or FormData. Resolves with the parsed JSON (null
 * for 204), or the Response itself with `raw: true` (streams, downloads). Rejects with ApiError.
 */
export async function api(path, { method = "GET", body, query, raw = false, auth = true, retried = false } = {}) {
  const headers = { Accept: `${JSON_TYPE}, application/problem+json` };
  if (auth && session.active) headers.Authorization = `Bearer ${await freshToken()}`;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = JSON_TYPE;
    payload = JSON.stringify(body);
  }
  const response = await fetch(withQuery(path, query), { method, headers, body: payload });
  if (response.ok) {
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }
  const problem = await problemOf(response);
  const error = new ApiError(response.status, problem);
  if (response.status === 401 && auth && session.active && !retried) {
    if (error.code === "step_up_required" && stepUpHandler) {
      if (await stepUpHandler()) return api(path, { method, body, query, raw, auth, retried: true });
      throw new ApiError(401, { ...problem, detail: "Đã hủy xác nhận OTP; thao tác chưa được thực hiện." });
    }
    if (error.code !== "step_up_required" && error.code !== "login_failed") {
      try {
        await refreshTokens();
      } catch {
        session.clear("Phiên đăng nhập đã kết thúc, vui lòng đăng nhập lại.");
        throw error;
      }
      return api(path, { method, body, query, raw, auth, retried: true });
    }
  }
  throw error;
}

/**
 * Upload with progress (fetch cannot report upload progress): PUT multipart `form` to `path`,
 * calling `onProgress(fraction)`. Resolves with the JSON answer; rejects with ApiError.
 */
/** Every item of a paginated list: follows `next_cursor` until the last page. */
export async function apiAll(path, field, { query = {} } = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path, { query: { ...query, limit: LIST_PAGE_SIZE, ...(cursor ? { cursor } : {}) } });
    items.push(...page[field]);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export async function upload(path, form, onProgress) {
  const token = await freshToken();
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", path);
    request.setRequestHeader("Authorization", `Bearer ${token}`);
    request.setRequestHeader("Accept", JSON_TYPE);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) resolve(request.response);
      else reject(new ApiError(request.status, request.response || {}));
    });
    request.addEventListener("error", () => reject(new ApiError(0, { detail: "Mất kết nối tới máy chủ." })));
    request.send(form);
  });
}

/**
 * Read a Server-Sent Events response: calls `onEvent(name, data)` for each event (data parsed as
 * JSON). Resolves when the stream ends.
 */
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let boundary;
    while ((boundary = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
    if (done) return;
  }
}

/** The API paths the console uses, in one place. */
export const paths = {
  unit: (unit) => `/v1/units/${encodeURIComponent(unit)}`,
  documents: (unit) => `/v1/units/${encodeURIComponent(unit)}/documents`,
  document: (unit, id) => `/v1/units/${encodeURIComponent(unit)}/documents/${encodeURIComponent(id)}`,
  faq: (unit) => `/v1/units/${encodeURIComponent(unit)}/faq`,
  faqEntry: (unit, id) => `/v1/units/${encodeURIComponent(unit)}/faq/${encodeURIComponent(id)}`,
};
