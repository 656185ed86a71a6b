// The REST API under /api/v1 (see API.md): every answer is the envelope
// {success, statusCode, message, data} (+ errors: [{field, message}] on a 422).
// Authentication rides on the HttpOnly `ath` cookie that login sets: every
// request here is same-origin, so the browser sends it, and this module keeps
// no token. The session lasts through the HttpOnly `rth` refresh cookie, which
// only POST /auth/refresh receives: `session` refreshes a minute before the
// access token expires, and once after a 401, then repeats the request. A
// refresh's new access token goes to the `session` listeners (the open sockets
// renew in place with it) and is not kept. The public reads (boards, report) of
// a visitor who is logged out go without cookies: a cookie left from a session
// that ended would make them 401.

const PREFIX = "/api/v1";

/** A failed request, with what the API said about it. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when the server could not be reached
   * @param {string} message a sentence for people
   * @param {{field: string, message: string}[]} fieldErrors the 422's errors
   * @param {number|null} retryAfter seconds, from Retry-After (429, 503)
   */
  constructor(status, message, fieldErrors = [], retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fieldErrors = fieldErrors;
    this.retryAfter = retryAfter;
  }

  /** True when the cure is to log in (again). */
  get unauthenticated() {
    return this.status === 401;
  }
}

/** Random hex, for Idempotency-Key (crypto.randomUUID needs a secure context). */
export function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

// What to say when the envelope's own message is missing (an answer that did
// not come from the API, e.g. a proxy's HTML error page).
const FALLBACK_MESSAGES = {
  400: "The request was malformed.",
  401: "You are not logged in.",
  403: "You are not allowed to do that.",
  404: "Not found.",
  405: "That method is not allowed here.",
  409: "That conflicts with existing data.",
  413: "The request is too large.",
  415: "The request must be JSON.",
  422: "Some fields are not valid.",
  429: "Too many requests; wait a moment and try again.",
  502: "The server is unavailable; try again shortly.",
  503: "The service is unavailable; try again shortly.",
  504: "The server took too long to answer; try again shortly.",
};

function sentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) return trimmed;
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/**
 * Sends one request and returns {status, message, data}; throws ApiError for
 * anything but a 2xx envelope.
 * @param {string} method
 * @param {string} path under /api/v1, e.g. "/auth/login"
 * @param {{query?: Record<string, any>, body?: any, headers?: Record<string, string>, anonymous?: boolean, signal?: AbortSignal}} options
 */
// Their 401 says nothing about an expired access token.
const SESSION_ROUTES = new Set(["/auth/login", "/auth/signup", "/auth/logout", "/auth/signout", "/auth/refresh"]);

export async function request(method, path, options = {}) {
  try {
    return await send(method, path, options);
  } catch (error) {
    // An expired access token: refresh once, and repeat the request with the new cookie.
    if (!(error instanceof ApiError) || !error.unauthenticated || options.anonymous || SESSION_ROUTES.has(path)) throw error;
    if (!(await session.refresh())) throw error;
    return send(method, path, options);
  }
}

async function send(method, path, { query, body, headers = {}, anonymous = false, signal } = {}) {
  let url = PREFIX + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: anonymous ? "omit" : "same-origin", signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }

  let envelope = null;
  try {
    envelope = await response.json();
  } catch {
    envelope = null;
  }
  const retryHeader = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  const retryAfter = Number.isFinite(retryHeader) ? retryHeader : null;

  if (response.ok && envelope && typeof envelope === "object" && envelope.success !== false) {
    return { status: response.status, message: envelope.message ?? "", data: envelope.data ?? null };
  }

  const apiMessage = envelope && typeof envelope.message === "string" && envelope.message ? envelope.message : null;
  let message = sentence(apiMessage ?? FALLBACK_MESSAGES[response.status] ?? `Unexpected answer from the server (HTTP ${response.status}).`);
  if ((response.status === 429 || response.status === 503) && retryAfter && !/retry|try again/i.test(message)) {
    message += ` Try again in ${retryAfter} s.`;
  }
  const fieldErrors = Array.isArray(envelope?.errors)
    ? envelope.errors
        .filter((item) => item && typeof item === "object")
        .map((item) => ({ field: String(item.field ?? ""), message: String(item.message ?? "is not valid") }))
    : [];
  throw new ApiError(response.status, message, fieldErrors, retryAfter);
}

/** The `exp` of a JWT, in seconds; only read to know when to refresh. */
function expiryOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return Number(JSON.parse(atob(payload)).exp) || null;
  } catch {
    return null;
  }
}

// Refresh a minute before the access token expires, as leaderboard-ws warns its sockets.
const REFRESH_AHEAD = 60;

/**
 * The session behind the cookies: refreshes it before the access token expires
 * and on demand (one refresh at a time, in this tab and, where the browser has
 * Web Locks, across its tabs: two refreshes with the same refresh token would
 * read as a stolen token and end the session).
 */
export const session = {
  timer: null,
  pending: null,
  listeners: new Set(),

  /** Calls listener(token) with each new access token (to renew sockets in place). */
  onRefresh(listener) {
    this.listeners.add(listener);
  },

  /** Takes the token of a login or a refresh: refresh again a minute before it expires. */
  started(token) {
    clearTimeout(this.timer);
    const expiresAt = expiryOf(token);
    if (expiresAt === null) return;
    const wait = Math.max(5, expiresAt - REFRESH_AHEAD - Date.now() / 1000);
    this.timer = setTimeout(() => this.refresh(), wait * 1000);
  },

  ended() {
    clearTimeout(this.timer);
    this.timer = null;
  },

  /** Refreshes the session; resolves to whether it holds (false: log in again). */
  refresh() {
    this.pending ??= this.refreshOnce().finally(() => {
      this.pending = null;
    });
    return this.pending;
  },

  async refreshOnce() {
    const run = async () => {
      try {
        const { data } = await send("POST", "/auth/refresh");
        this.started(data.token);
        for (const listener of this.listeners) listener(data.token);
        return true;
      } catch {
        this.ended();
        return false;
      }
    };
    return navigator.locks ? navigator.locks.request("leaderboard-session-refresh", run) : run();
  },
};

export const api = {
  me: () => request("GET", "/auth/me"),
  login: (email, password) => request("POST", "/auth/login", { body: { email, password } }),
  signup: (name, email, password) => request("POST", "/auth/signup", { body: { name, email, password } }),
  logout: () => request("POST", "/auth/logout"),
  games: () => request("GET", "/games"),
  game: (slug) => request("GET", `/games/${encodeURIComponent(slug)}`),
  createGame: (settings) => request("POST", "/admin/games", { body: settings }),
  updateGame: (slug, changes) => request("PATCH", `/admin/games/${encodeURIComponent(slug)}`, { body: changes }),
  findPlayers: (query, before) => request("GET", "/admin/users", { query: { query, before, limit: 20 } }),
  banPlayer: (id, reason) => request("POST", `/admin/users/${encodeURIComponent(id)}/ban`, { body: { reason } }),
  unbanPlayer: (id, reason) => request("POST", `/admin/users/${encodeURIComponent(id)}/unban`, { body: { reason } }),
  playerScores: (id, before) => request("GET", `/admin/users/${encodeURIComponent(id)}/scores`, { query: { before, limit: 20 } }),
  deleteScore: (id, reason) => request("DELETE", `/admin/scores/${encodeURIComponent(id)}`, { body: { reason } }),
  restoreScore: (id, reason) => request("POST", `/admin/scores/${encodeURIComponent(id)}/restore`, { body: { reason } }),
  audit: (before) => request("GET", "/admin/audit", { query: { before, limit: 20 } }),
  apiKeys: () => request("GET", "/admin/api-keys"),
  createApiKey: (name, games) => request("POST", "/admin/api-keys", { body: games ? { name, games } : { name } }),
  revokeApiKey: (id) => request("DELETE", `/admin/api-keys/${encodeURIComponent(id)}`),
  board: (game, period, start, end, { anonymous = false } = {}) =>
    request("GET", `/leaderboards/${encodeURIComponent(game)}`, { query: { period, start, end }, anonymous }),
  standing: (period) => request("GET", "/me/standing", { query: { period } }),
  submitScore: (game, score, key) =>
    request("POST", "/scores", { body: { game, score }, headers: { "Idempotency-Key": key } }),
  report: (start, end, limit, game, { anonymous = false } = {}) =>
    request("GET", "/reports/top", { query: { start, end, limit, game }, anonymous }),
};
