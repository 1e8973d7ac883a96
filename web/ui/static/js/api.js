// fetch wrapper: same-origin cookies, the CSRF header on writes, one token refresh on 401.
export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function raw(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-Requested-With": "eldercare" } };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  return fetch(path, opts);
}

export async function api(method, path, body) {
  let res = await raw(method, path, body);
  if (res.status === 401 && !path.startsWith("/api/auth/")) {
    const refreshed = await raw("POST", "/api/auth/refresh");
    if (refreshed.ok) res = await raw(method, path, body);
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new ApiError(res.status, data.code || "error", data.message || res.statusText), { details: data.details });
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);

export async function login(username, password) {
  return post("/api/auth/login", { username, password });
}

export async function logout() {
  try { await post("/api/auth/logout"); } catch (e) { /* already logged out */ }
}

export async function me() {
  try { return await get("/api/me"); } catch (e) { if (e.status === 401) return null; throw e; }
}

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Plans, shifts and KPIs are kept per day in the stations' time zone (as the server's DEFAULT_TZ), whatever
// zone the browser is in: a laptop set to UTC at 01:00 in Chongqing must still show Chongqing's today.
export const SERVICE_TZ = "Asia/Shanghai";

export function serviceDay(offsetDays = 0) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: SERVICE_TZ, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(new Date(Date.now() + offsetDays * 86400000));
}
