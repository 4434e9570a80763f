// @ts-check
/**
 * tokengate browser client: a dependency-free ES module for single-page apps.
 *
 * Both tokens live in HttpOnly cookies set by the API, so this module never
 * sees, stores or forwards a token: it only sends `credentials: 'include'` and
 * keeps a little non-secret bookkeeping (when the access token expires, who the
 * user is) to refresh at the right moment.
 *
 * What it does for you:
 * - `apiFetch(path, init)`: `fetch` with credentials, JSON bodies and, on a 401,
 *   one silent refresh and one retry.
 * - Single-flight refresh: any number of parallel 401s in one tab share one
 *   refresh request; tabs serialise refreshes with the Web Locks API and a tab
 *   that waited for the lock skips its own refresh when another tab refreshed
 *   meanwhile (so tabs do not stampede the refresh endpoint).
 * - A proactive refresh shortly before `expiresAt`.
 * - A bounded number of consecutive failed refreshes: never a
 *   401 → refresh → 401 loop.
 * - `login` retries once, after the announced wait, when the API sheds it
 *   with 503 + `Retry-After` (its password hashing is saturated).
 * - Events in every tab (BroadcastChannel): `login`, `refresh`, `logout`,
 *   `session-expired`, and `statechange` after any of them (typed: see
 *   `TokengateEventMap`).
 * - The session hint: the API's readable `tokengateSession` cookie (two
 *   expiries, no secret) tells `hasSession()` whether there is a session, so
 *   `restore()` on an anonymous page load sends no request at all, and an
 *   access token the hint shows expired is refreshed *before* the call.
 * - Identical concurrent GETs share one request.
 * - The account lifecycle: `changePassword`, `forgotPassword`,
 *   `resetPassword`, `verifyEmail`, `resendVerification`, `changeEmail`,
 *   `deleteAccount`. A 401 for a wrong password is never taken for an
 *   expired session (no refresh, no second try).
 * - A one-time console warning when the page and the API are on different
 *   sites (their SameSite cookies would be dropped), and `checkCookies()`.
 *
 * @example
 * import { createClient } from './tokengate-client.js';
 * const auth = createClient({ baseUrl: 'http://localhost:8080/api' });
 * auth.addEventListener('logout', () => showLogin());
 * auth.addEventListener('session-expired', () => showLogin('Please log in again'));
 * const user = await auth.restore(); // null and no request when there is no session
 * await auth.login({ email, password });
 * const me = await auth.currentUser();
 * const res = await auth.apiFetch('/report/setting'); // refreshes on 401
 */

/**
 * @typedef {Object} User
 * @property {string} _id
 * @property {string} name
 * @property {string} email
 * @property {string|null} profilePicture
 * @property {boolean} emailVerified  whether the address was confirmed through
 *   a link the API mailed to it (registration, `resendVerification`)
 * @property {string} createdAt
 * @property {string} updatedAt
 */

/**
 * @typedef {Object} ReportSetting
 * @property {string} [_id]
 * @property {'DAILY'|'WEEKLY'|'MONTHLY'} frequency
 * @property {boolean} isEnabled
 */

/**
 * @typedef {Object} Session
 * @property {string} id
 * @property {string} createdAt
 * @property {string} lastUsedAt
 * @property {string} expiresAt
 * @property {string|null} userAgent
 * @property {string|null} ip
 * @property {boolean} current
 */

/**
 * @typedef {Object} LoginResult
 * @property {User} user
 * @property {string} expiresAt  RFC 3339 time at which the access token expires
 * @property {ReportSetting|undefined} reportSetting
 */

/**
 * The answer of an account endpoint that only confirms: the API's `message`,
 * fit to show to the user.
 * @typedef {Object} MessageResult
 * @property {string} message
 */

/**
 * What `changePassword` resolves to: this browser's session was rotated
 * (new cookies), every other session of the user revoked.
 * @typedef {Object} PasswordChangeResult
 * @property {string} message
 * @property {User} user
 * @property {string} expiresAt  RFC 3339 time at which the new access token expires
 */

/**
 * What `verifyEmail` resolves to: the user whose address is now verified
 * (after an email change, with the new address).
 * @typedef {Object} VerifyEmailResult
 * @property {string} message
 * @property {User} user
 */

/** @typedef {'local'|'remote'} EventSource  `remote`: another tab found out */

/**
 * The client's events and their `detail`:
 * `auth.addEventListener('logout', (e) => e.detail.reason)` is typed, and a
 * misspelled event name is a type error.
 * @typedef {Object} TokengateEventMap
 * @property {CustomEvent<{user: User|null, source: EventSource}>} login
 * @property {CustomEvent<{expiresAt: Date|null, source: EventSource}>} refresh
 * @property {CustomEvent<{reason: string, source: EventSource}>} logout
 * @property {CustomEvent<{reason: string, source: EventSource}>} session-expired
 * @property {CustomEvent<{state: AuthState, user: User|null}>} statechange
 */

/**
 * What `GET /auth/cookie-check` answers: which cookies reached the API.
 * @typedef {Object} CookieCheck
 * @property {boolean} accessCookie
 * @property {boolean} refreshCookie
 * @property {boolean} sessionHint
 * @property {{access: string, refresh: string, hint: string}} names
 */

/**
 * The session hint cookie, decoded: epoch ms.
 * @typedef {Object} SessionHint
 * @property {number} accessExpiresAt
 * @property {number} refreshExpiresAt
 */

/**
 * @typedef {'unknown'|'logged-in'|'logged-out'} AuthState
 * `unknown` until the first call tells (a page load cannot see HttpOnly cookies).
 */

/**
 * @typedef {Object} ClientOptions
 * @property {string} baseUrl  the API base, e.g. `http://localhost:8080/api`
 * @property {boolean} [proactiveRefresh=true]  refresh shortly before `expiresAt`
 * @property {number} [refreshSkewMs=30000]  how long before `expiresAt` to refresh
 *   (at most a quarter of the token's lifetime)
 * @property {number} [maxRefreshFailures=3]  consecutive failed refreshes, or
 *   consecutive refreshes after which the retried call still got a 401, before
 *   the client gives up with `session-expired` (a 401 from refresh ends it at once)
 * @property {number} [refreshTimeoutMs=15000]  abort a refresh request after this long
 * @property {number} [lockTimeoutMs=20000]  stop waiting for another tab's refresh
 *   lock after this long and refresh anyway (the server's grace window makes that safe)
 * @property {string} [lockName='tokengate-refresh']  Web Locks name
 * @property {string} [channelName='tokengate']  BroadcastChannel name
 * @property {boolean|'auto'} [sessionHint='auto']  use the API's readable
 *   `tokengateSession` cookie. `'auto'`: only when the page's host is the API's
 *   host (ports may differ), the one case where page JS can surely see it;
 *   `true` when the API sets it with a `COOKIE_DOMAIN` that covers the page
 *   (app.example.com + api.example.com with `COOKIE_DOMAIN=example.com`);
 *   `false`: never (every state is learnt from a request, as before).
 * @property {string} [sessionHintCookie]  the hint's name; default: the first
 *   of `tokengateSession`, `__Host-tokengateSession`, `__Secure-tokengateSession`
 * @property {'lax'|'strict'|'none'} [sameSite='lax']  the API's cookie
 *   SameSite (`COOKIE_SAMESITE`); with `lax`/`strict`, a page on another site
 *   than the API gets a one-time console warning
 * @property {boolean} [dedupeGets=true]  identical concurrent GETs share one request
 * @property {boolean} [bearer=false]  for apps that send `Authorization: Bearer`
 *   (e.g. through `tokengate-client/rtk`): keep the `accessToken` that login and
 *   refresh answer with (the API must run with `EXPOSE_ACCESS_TOKEN=true`) in
 *   memory, as `accessToken`, never in storage or in a message to other tabs
 * @property {typeof fetch} [fetch]  fetch implementation (default: the global one)
 */

/**
 * `fetch`'s init, except that `body` may also be a plain object or array,
 * which is sent as JSON.
 * @typedef {Omit<RequestInit, 'body'> & { body?: BodyInit | null | Record<string, unknown> | unknown[] }} ApiInit
 */

const PROTOCOL_VERSION = 1;
const HINT_NAMES = ['tokengateSession', '__Host-tokengateSession', '__Secure-tokengateSession'];
/** Page/API pairs already warned about: one console warning per page. */
const warnedSites = new Set();

/**
 * The API's `message` on a 401 for a missing, invalid or expired access
 * token (every protected route answers it the same way).
 */
const UNAUTHENTICATED_MESSAGE = 'Authentication required';
/**
 * Logged-in endpoints that also answer 401 for a wrong password: there only
 * a 401 with `UNAUTHENTICATED_MESSAGE` means "refresh and retry"; any other
 * 401 is the password's, which must not be sent twice (it counts as a failed
 * login).
 */
const PASSWORD_CHECKED = new Set(['POST /auth/password/change', 'POST /auth/email/change', 'DELETE /user']);

/** The longest a login waits on a 503's `Retry-After` before its one retry. */
export const MAX_LOGIN_RETRY_WAIT_MS = 30_000;

/** An error answer of the API: `status`, the server's `message`, field `errors`. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {{field?: string, message: string}[]} [errors]
   * @param {unknown} [body]
   */
  constructor(status, message, errors = [], body = undefined) {
    super(message);
    this.name = 'ApiError';
    /** HTTP status, 0 when no answer could be read. */
    this.status = status;
    /** Field errors of a 400, else empty. */
    this.errors = errors;
    /** The parsed body, if any. */
    this.body = body;
  }

  /**
   * Builds an ApiError from a non-2xx response.
   * @param {Response} res
   * @returns {Promise<ApiError>}
   */
  static async from(res) {
    const body = await readJson(res);
    const obj = /** @type {any} */ (body);
    const message =
      obj && typeof obj.message === 'string' ? obj.message : `HTTP ${res.status} ${res.statusText}`.trim();
    const errors = obj && Array.isArray(obj.errors) ? obj.errors : [];
    return new ApiError(res.status, message, errors, body);
  }
}

/**
 * Creates a client for one tokengate API.
 * @param {ClientOptions} options
 * @returns {TokengateClient}
 */
export function createClient(options) {
  return new TokengateClient(options);
}

export class TokengateClient extends EventTarget {
  /** @type {string} */ #baseUrl;
  /** @type {Required<Omit<ClientOptions, 'baseUrl'|'fetch'|'sessionHint'|'sessionHintCookie'>>} */ #opts;
  /** Whether the session hint cookie is visible to this page and used. */
  #hintEnabled = false;
  /** @type {string|null} */ #hintName = null;
  /** @type {string|null} */ #siteMismatch = null;
  /** In-flight GETs by URL and headers. @type {Map<string, Promise<Response>>} */
  #gets = new Map();
  /** Bearer mode: the last access token the API answered with, and when. */
  /** @type {string|null} */ #accessToken = null;
  #accessTokenAt = 0;
  /** @type {typeof fetch} */ #fetchImpl;
  /** @type {AuthState} */ #state = 'unknown';
  /** @type {User|null} */ #user = null;
  /** Access-token expiry in epoch ms, or null when unknown. */
  /** @type {number|null} */ #expiresAt = null;
  /** Epoch ms at which the auth state this tab knows was obtained (login or refresh, any tab). */
  #stateAt = 0;
  /** @type {Promise<RefreshOutcome>|null} */ #inFlight = null;
  /** Consecutive refresh requests that failed (network, 403, 429, 5xx). */
  #refreshFailures = 0;
  /** Consecutive refreshes after which the retried call still got a 401. */
  #uselessRefreshes = 0;
  /** Known dead (logged out, refresh refused, or gave up): no automatic refresh until a login. */
  #dead = false;
  /** @type {ReturnType<typeof setTimeout>|null} */ #timer = null;
  /** @type {BroadcastChannel|null} */ #channel = null;
  /** @type {string|null} */ #currentSessionId = null;
  #closed = false;

  /** @param {ClientOptions} options */
  constructor(options) {
    super();
    if (!options || typeof options.baseUrl !== 'string' || !/^https?:\/\//i.test(options.baseUrl)) {
      throw new TypeError('createClient: baseUrl must be an absolute http(s) URL, e.g. http://localhost:8080/api');
    }
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#opts = {
      proactiveRefresh: options.proactiveRefresh ?? true,
      refreshSkewMs: options.refreshSkewMs ?? 30_000,
      maxRefreshFailures: Math.max(1, options.maxRefreshFailures ?? 3),
      refreshTimeoutMs: options.refreshTimeoutMs ?? 15_000,
      lockTimeoutMs: options.lockTimeoutMs ?? 20_000,
      lockName: options.lockName ?? 'tokengate-refresh',
      channelName: options.channelName ?? 'tokengate',
      sameSite: options.sameSite ?? 'lax',
      dedupeGets: options.dedupeGets ?? true,
      bearer: options.bearer ?? false,
    };
    this.#hintName = options.sessionHintCookie ?? null;
    const page = pageUrl();
    const api = new URL(this.#baseUrl);
    const hint = options.sessionHint ?? 'auto';
    this.#hintEnabled =
      hint === true || (hint === 'auto' && page !== null && typeof document !== 'undefined' && page.hostname === api.hostname);
    if (page && this.#opts.sameSite !== 'none' && siteOf(page) !== siteOf(api)) {
      this.#siteMismatch =
        `tokengate: this page (${page.origin}) and the API (${api.origin}) are on different sites, so the browser ` +
        `drops the API's SameSite=${this.#opts.sameSite === 'strict' ? 'Strict' : 'Lax'} cookies: login answers 200, then every call gets 401. ` +
        `Fix: serve both under one site name, e.g. page http://localhost:5173 with API http://localhost:8080 ` +
        `(not 127.0.0.1 for one and localhost for the other), or app.example.com with api.example.com ` +
        `(COOKIE_DOMAIN=example.com). Across real sites only COOKIE_SAMESITE=None with COOKIE_SECURE=true over https works. ` +
        `auth.checkCookies() asks the API which cookies arrive.`;
      const key = `${siteOf(page)} ${siteOf(api)}`;
      if (!warnedSites.has(key)) {
        warnedSites.add(key);
        console.warn(this.#siteMismatch);
      }
    }
    this.#fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);

    if (typeof BroadcastChannel === 'function') {
      this.#channel = new BroadcastChannel(this.#opts.channelName);
      this.#channel.onmessage = (ev) => this.#onMessage(ev.data);
    }
    // Another tab may already hold a live session: adopt its expiry as a hint
    // for the proactive timer. The state stays `unknown` until a call tells.
    if (this.hasSession() === false) {
      // The hint says: no session. Known without a request.
      this.#state = 'logged-out';
      this.#clearShared();
      return;
    }
    const shared = this.#readShared();
    if (shared && shared.expiresAt > Date.now()) {
      this.#expiresAt = shared.expiresAt;
      this.#stateAt = shared.at;
      this.#schedule();
    }
  }

  // ---------------------------------------------------------------- state

  /** @returns {AuthState} */
  get state() {
    return this.#state;
  }

  /** The user of the last login or `currentUser()`, or null. @returns {User|null} */
  get user() {
    return this.#user;
  }

  /** When the access token expires, if known. @returns {Date|null} */
  get expiresAt() {
    return this.#expiresAt === null ? null : new Date(this.#expiresAt);
  }

  /**
   * Bearer mode only (`bearer: true`, API with `EXPOSE_ACCESS_TOKEN=true`):
   * the current access token for an `Authorization: Bearer` header, else null.
   * @returns {string|null}
   */
  get accessToken() {
    return this.#accessToken;
  }

  /**
   * For a wrapper that got a 401 for a request sent at `sentAt` (epoch ms):
   * refreshes through the single flight (shared with every caller and tab;
   * skipped when a refresh already happened after `sentAt`) and resolves
   * true when a retry is worth it. Bounded like the automatic refresh: it
   * resolves false once the client gave up, never loops.
   * @param {number} sentAt
   * @returns {Promise<boolean>}
   */
  async reauthenticate(sentAt) {
    if (this.#dead) {
      return false;
    }
    return (await this.#refreshOnce(sentAt, true)) !== 'failed';
  }

  /** The API base URL, without a trailing slash. */
  get baseUrl() {
    return this.#baseUrl;
  }

  /**
   * Whether the browser holds a session, from the session hint cookie,
   * without a request: true while the refresh token's expiry lies ahead,
   * false when there is no hint (or it ran out); null when this page cannot
   * see the hint (`sessionHint: false`, or 'auto' with the API on another
   * host) and only a request can tell.
   * @returns {boolean|null}
   */
  hasSession() {
    if (!this.#hintEnabled) {
      return null;
    }
    const hint = this.sessionHint;
    return hint !== null && hint.refreshExpiresAt > Date.now();
  }

  /**
   * The decoded session hint, or null (none, unreadable, or disabled).
   * @returns {SessionHint|null}
   */
  get sessionHint() {
    if (!this.#hintEnabled || typeof document === 'undefined') {
      return null;
    }
    const names = this.#hintName ? [this.#hintName] : HINT_NAMES;
    for (const pair of String(document.cookie).split(';')) {
      const at = pair.indexOf('=');
      if (at < 0 || !names.includes(pair.slice(0, at).trim())) {
        continue;
      }
      const m = /^(\d{1,12})\.(\d{1,12})$/.exec(pair.slice(at + 1).trim());
      if (m) {
        return { accessExpiresAt: Number(m[1]) * 1000, refreshExpiresAt: Number(m[2]) * 1000 };
      }
    }
    return null;
  }

  /**
   * Set when the page and the API are on different sites under SameSite
   * cookies (the text of the console warning), else null.
   * @returns {string|null}
   */
  get siteMismatch() {
    return this.#siteMismatch;
  }

  /**
   * The start-up check of a page load: who is logged in? With the session
   * hint and no session, resolves null at once without any request (state
   * `logged-out`); otherwise asks `/user/current-user` (refreshing first if
   * the hint shows the access token expired) and resolves the user, or null
   * when the API says there is no session. Other errors reject.
   * @returns {Promise<User|null>}
   */
  async restore() {
    if (this.hasSession() === false) {
      this.#setState('logged-out');
      return null;
    }
    try {
      return await this.currentUser();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.#setState('logged-out');
        return null;
      }
      throw err;
    }
  }

  /**
   * Asks the API which of this browser's cookies reached it
   * (`GET /auth/cookie-check`; never a 401, no secrets). After a login,
   * `accessCookie: false` means the browser drops the cookies.
   * @returns {Promise<CookieCheck>}
   */
  async checkCookies() {
    return /** @type {CookieCheck} */ (await this.#plain('/auth/cookie-check', { method: 'GET' }));
  }

  /**
   * `addEventListener`, typed by `TokengateEventMap`.
   * @template {keyof TokengateEventMap} K
   * @param {K} type
   * @param {((ev: TokengateEventMap[K]) => void) | { handleEvent(ev: TokengateEventMap[K]): void } | null} listener
   * @param {boolean | AddEventListenerOptions} [options]
   * @returns {void}
   */
  addEventListener(type, listener, options) {
    super.addEventListener(type, /** @type {EventListener|null} */ (listener), options);
  }

  /**
   * @template {keyof TokengateEventMap} K
   * @param {K} type
   * @param {((ev: TokengateEventMap[K]) => void) | { handleEvent(ev: TokengateEventMap[K]): void } | null} listener
   * @param {boolean | EventListenerOptions} [options]
   * @returns {void}
   */
  removeEventListener(type, listener, options) {
    super.removeEventListener(type, /** @type {EventListener|null} */ (listener), options);
  }

  /** Stops timers and closes the BroadcastChannel. */
  close() {
    this.#closed = true;
    this.#clearTimer();
    this.#channel?.close();
    this.#channel = null;
  }

  // ------------------------------------------------------------- fetching

  /**
   * `fetch` against the API: `path` is relative to `baseUrl` (or an absolute URL).
   * Always sends `credentials: 'include'`; a plain object or array `body` is
   * sent as JSON; a string body gets `Content-Type: application/json` unless you
   * set one. On a 401 from the API (other than the auth endpoints themselves) it
   * refreshes once (shared with every other caller and tab) and retries once.
   * Returns the Response; it never throws for HTTP errors (see `request`).
   * Bodies must be re-sendable (not a ReadableStream) for the retry.
   * @param {string|URL} path
   * @param {ApiInit} [init]
   * @returns {Promise<Response>}
   */
  async apiFetch(path, init = {}) {
    const url = this.#url(path);
    const method = (init.method ?? 'GET').toUpperCase();
    if (!this.#opts.dedupeGets || method !== 'GET' || init.body != null || init.signal) {
      return this.#apiFetchOnce(url, init);
    }
    // Identical GETs in flight share one request; each caller gets its own
    // copy of the response (the shared one is never read).
    const key = `${url}\n${JSON.stringify([...new Headers(init.headers)])}`;
    let shared = this.#gets.get(key);
    if (!shared) {
      shared = this.#apiFetchOnce(url, init).finally(() => this.#gets.delete(key));
      this.#gets.set(key, shared);
    }
    return (await shared).clone();
  }

  /**
   * @param {string} url
   * @param {ApiInit} init
   * @returns {Promise<Response>}
   */
  async #apiFetchOnce(url, init) {
    const refreshable = this.#refreshable(url);
    if (refreshable && !this.#dead && this.#hintEnabled) {
      // The hint shows the access token expired (or about to): refresh
      // before the call rather than collect a 401 first.
      const hint = this.sessionHint;
      const now = Date.now();
      if (hint && hint.refreshExpiresAt > now && hint.accessExpiresAt - 2000 <= now) {
        await this.#refreshOnce(now, true);
      }
    }
    const sentAt = Date.now();
    const res = await this.#send(url, init);
    if (res.status !== 401 || !refreshable || this.#dead) {
      return res;
    }
    if (this.#passwordChecked(url, init) && !(await isUnauthenticated(res))) {
      return res; // a wrong password, not an expired session: no refresh, no second try
    }
    if (this.hasSession() === false) {
      // No refresh cookie to try: no pointless (red) refresh request.
      this.#endSession('session-expired', 'no-session', true);
      return res;
    }
    const outcome = await this.#refreshOnce(sentAt, true);
    if (outcome === 'failed') {
      return res;
    }
    const retry = await this.#send(url, init);
    // (On a password-checked endpoint, a 401 after the refresh may be the password's.)
    if (retry.status === 401 && (!this.#passwordChecked(url, init) || (await isUnauthenticated(retry)))) {
      // The refresh worked but the API still says no (e.g. the browser did not
      // store the cookie): count it, so that repeated calls cannot loop forever.
      this.#uselessRefreshes += 1;
      if (this.#uselessRefreshes >= this.#opts.maxRefreshFailures) {
        this.#endSession('session-expired', 'unauthorized-after-refresh', true);
      }
    } else {
      this.#uselessRefreshes = 0;
    }
    return retry;
  }

  /**
   * `apiFetch` + JSON: resolves to the parsed body of a 2xx answer, rejects
   * with an `ApiError` otherwise (and with a TypeError on network failure).
   * @template [T=any]
   * @param {string|URL} path
   * @param {ApiInit} [init]
   * @returns {Promise<T>}
   */
  async request(path, init = {}) {
    const res = await this.apiFetch(path, init);
    if (!res.ok) {
      throw await ApiError.from(res);
    }
    return /** @type {T} */ (await readJson(res));
  }

  // --------------------------------------------------------------- account

  /**
   * Creates an account. Does not log in (the API sets no cookie on register).
   * @param {{name: string, email: string, password: string}} input
   * @returns {Promise<User>}
   */
  async register({ name, email, password }) {
    const body = await this.#plain('/auth/register', { method: 'POST', body: { name, email, password } });
    return body.data.user;
  }

  /**
   * Logs in: the API sets both cookies. The body carries no token the client
   * needs (an `accessToken` the API may add is ignored).
   *
   * When the API sheds the login because its password hashing is busy (503
   * with `Retry-After` in seconds), waits that long (at most
   * `MAX_LOGIN_RETRY_WAIT_MS`) and tries exactly once more. A 503 without a
   * usable `Retry-After` (missing, not a whole number of seconds) and any
   * other error are reported at once; so is the retry's error.
   * @param {{email: string, password: string}} input
   * @returns {Promise<LoginResult>}
   */
  async login({ email, password }) {
    const url = this.#url('/auth/login');
    /** @type {ApiInit} */
    const init = { method: 'POST', body: { email, password } };
    let res = await this.#send(url, init);
    const waitMs = res.status === 503 ? retryAfterMs(res.headers.get('Retry-After')) : null;
    if (waitMs !== null) {
      const shed = await ApiError.from(res); // reads the body: the connection is free again
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (this.#closed) {
        throw shed;
      }
      res = await this.#send(url, init);
    }
    if (!res.ok) {
      throw await ApiError.from(res);
    }
    const body = /** @type {any} */ (await readJson(res));
    const at = Date.now();
    const expiresAt = parseTime(body.expiresAt);
    this.#dead = false;
    this.#resetFailures();
    this.#user = body.user ?? null;
    this.#keepToken(body, at);
    this.#adopt(expiresAt, at);
    this.#setState('logged-in');
    this.#broadcast({ type: 'login', user: this.#user, expiresAt, at });
    this.#emit('login', { user: this.#user, source: 'local' });
    return { user: body.user, expiresAt: body.expiresAt, reportSetting: body.reportSetting };
  }

  /**
   * Logs out this browser: the API revokes the session and clears both
   * cookies; every tab gets a `logout` event. Rejects (and changes nothing
   * locally) when the API could not be reached or refused.
   * @returns {Promise<void>}
   */
  async logout() {
    await this.#plain('/auth/logout', { method: 'POST' });
    this.#endSession('logout', 'logout', true);
  }

  /**
   * Revokes every session of the user (all devices), then clears this
   * browser's cookies; every tab gets a `logout` event.
   * @returns {Promise<void>}
   */
  async logoutAll() {
    await this.request('/auth/logout-all', { method: 'POST' });
    try {
      await this.#plain('/auth/logout', { method: 'POST' }); // clear the now dead cookies
    } catch {
      // The sessions are revoked already; stale cookies die at their next use.
    }
    this.#endSession('logout', 'logout-all', true);
  }

  /** @returns {Promise<User>} */
  async currentUser() {
    const body = await this.request('/user/current-user');
    this.#user = body.user;
    this.#dead = false;
    this.#setState('logged-in', true);
    return body.user;
  }

  /** The user's live sessions (`current` marks this browser's). @returns {Promise<Session[]>} */
  async sessions() {
    const body = await this.request('/auth/sessions');
    /** @type {Session[]} */
    const list = body.sessions ?? [];
    this.#currentSessionId = list.find((s) => s.current)?.id ?? this.#currentSessionId;
    return list;
  }

  /**
   * Revokes one of the user's sessions. Revoking this browser's own session
   * (as last seen by `sessions()`) is a logout.
   * @param {string} id
   * @returns {Promise<void>}
   */
  async revokeSession(id) {
    await this.request(`/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
    if (id === this.#currentSessionId) {
      this.#currentSessionId = null;
      try {
        await this.#plain('/auth/logout', { method: 'POST' });
      } catch {
        // revoked already; the cookies die at their next use
      }
      this.#endSession('logout', 'session-revoked', true);
    }
  }

  // ------------------------------------------------------ account lifecycle

  /**
   * Changes the logged-in user's password (`POST /auth/password/change`).
   * The API revokes every *other* session of the user (other devices are
   * logged out at their next refresh) and rotates this browser's: new
   * cookies and `expiresAt`, so this browser and its tabs stay logged in (a
   * `refresh` event). A wrong `currentPassword` rejects with an `ApiError` of
   * status 401 at once, without a refresh or a second try (it counts as a
   * failed login); a refused `newPassword` with 400 and `errors` naming it.
   * @param {{currentPassword: string, newPassword: string}} input
   * @returns {Promise<PasswordChangeResult>}
   */
  async changePassword({ currentPassword, newPassword }) {
    const body = await this.request('/auth/password/change', { method: 'POST', body: { currentPassword, newPassword } });
    const at = Date.now();
    const expiresAt = parseTime(body?.expiresAt);
    this.#dead = false;
    this.#resetFailures();
    this.#user = body?.user ?? this.#user;
    this.#keepToken(body, at);
    this.#adopt(expiresAt, at);
    this.#setState('logged-in', true);
    this.#broadcast({ type: 'refreshed', expiresAt, at });
    this.#emit('refresh', { expiresAt: this.expiresAt, source: 'local' });
    return { message: body?.message, user: body?.user, expiresAt: body?.expiresAt };
  }

  /**
   * Asks for a password reset link (`POST /auth/password/forgot`). The API
   * answers the same whether or not an account exists for `email` (show its
   * `message`); the mail links to `{FRONTEND_URL}/reset-password?token=…`.
   * Rejects with 400 for an address that is not one, 429 when rate limited.
   * @param {{email: string}} input
   * @returns {Promise<MessageResult>}
   */
  async forgotPassword({ email }) {
    const body = await this.#plain('/auth/password/forgot', { method: 'POST', body: { email } });
    return { message: body?.message };
  }

  /**
   * Sets a new password with the token of a reset link
   * (`POST /auth/password/reset`). The API revokes every session of the user
   * and clears this browser's cookies: if this browser was logged in, it is
   * now logged out (a `logout` event, reason `password-reset`, in every tab).
   * A used, expired, superseded or unknown token rejects with 400
   * (`Invalid or expired token`); so does a refused `newPassword`, with
   * `errors`. Call it when the user submits the form, never on page load:
   * mail scanners open links, and the token is single use.
   * @param {{token: string, newPassword: string}} input
   * @returns {Promise<MessageResult>}
   */
  async resetPassword({ token, newPassword }) {
    const body = await this.#plain('/auth/password/reset', { method: 'POST', body: { token, newPassword } });
    this.#signedOutByServer('password-reset');
    return { message: body?.message };
  }

  /**
   * Confirms an email address with the token of a verification link
   * (`POST /auth/email/verify`; no login needed): the registration address,
   * or the new address of `changeEmail`, which only then becomes the user's.
   * When this browser is logged in as that user, `user` is updated (a
   * `statechange` event). Rejects with 400 (`Invalid or expired token`), or
   * 409 when a new address was taken meanwhile. Like `resetPassword`: on
   * submit, never on page load.
   * @param {{token: string}} input
   * @returns {Promise<VerifyEmailResult>}
   */
  async verifyEmail({ token }) {
    const body = await this.#plain('/auth/email/verify', { method: 'POST', body: { token } });
    const user = /** @type {User|undefined} */ (body?.user);
    if (user && this.#user && this.#user._id === user._id) {
      this.#user = user;
      this.#setState(this.#state, true);
    }
    return { message: body?.message, user: body?.user };
  }

  /**
   * Mails a new verification link to the logged-in user
   * (`POST /auth/email/verify/resend`); earlier links stop working. Rejects
   * with 400 (`Email is already verified`) or 429.
   * @returns {Promise<MessageResult>}
   */
  async resendVerification() {
    const body = await this.request('/auth/email/verify/resend', { method: 'POST' });
    return { message: body?.message };
  }

  /**
   * Starts an email change (`POST /auth/email/change`): the API mails a
   * confirmation link to `newEmail` and a notice to the current address; the
   * address changes only when that link is used (`verifyEmail`). A wrong
   * `password` rejects with 401 at once (no refresh, no second try); an
   * invalid or unchanged address with 400, a taken one with 409.
   * @param {{password: string, newEmail: string}} input
   * @returns {Promise<MessageResult>}
   */
  async changeEmail({ password, newEmail }) {
    const body = await this.request('/auth/email/change', { method: 'POST', body: { password, newEmail } });
    return { message: body?.message };
  }

  /**
   * Deletes the logged-in user's account (`DELETE /user`) with its sessions
   * and data; the API clears both cookies and every tab gets a `logout`
   * event (reason `account-deleted`). A wrong `password` rejects with 401 at
   * once (no refresh, no second try) and changes nothing.
   * @param {{password: string}} input
   * @returns {Promise<MessageResult>}
   */
  async deleteAccount({ password }) {
    const body = await this.request('/user', { method: 'DELETE', body: { password } });
    this.#endSession('logout', 'account-deleted', true);
    return { message: body?.message };
  }

  /**
   * The API revoked every session of the user and cleared this browser's
   * cookies. A tab that was logged in gets `logout`; one that did not know
   * of a session just becomes `logged-out`; the other tabs are told either way.
   * @param {string} reason
   */
  #signedOutByServer(reason) {
    if (this.#state === 'logged-in') {
      this.#endSession('logout', reason, true);
      return;
    }
    this.#endSession('session-expired', reason, true); // quiet: no event here
    this.#broadcast({ type: 'logout', reason });
  }

  /** @returns {Promise<ReportSetting>} */
  async reportSetting() {
    const body = await this.request('/report/setting');
    return body.reportSetting;
  }

  /**
   * @param {Partial<Pick<ReportSetting, 'frequency'|'isEnabled'>>} patch
   * @returns {Promise<ReportSetting>}
   */
  async updateReportSetting(patch) {
    const body = await this.request('/report/setting', { method: 'PUT', body: patch });
    return body.reportSetting;
  }

  /**
   * Refreshes now (sharing an in-flight refresh of this tab). Unlike the
   * automatic refresh it also tries after the client gave up, so it can back
   * a "try again" button. Resolves true when the session is alive afterwards.
   * @returns {Promise<boolean>}
   */
  async refresh() {
    const outcome = await this.#refreshOnce(Date.now(), false);
    return outcome !== 'failed';
  }

  // -------------------------------------------------------------- refresh

  /**
   * @typedef {'refreshed'|'skipped'|'failed'} RefreshOutcome
   * `skipped`: another caller refreshed after `since`, nothing to do.
   */

  /**
   * Single flight: one refresh at a time per tab, serialised across tabs.
   * @param {number} since  epoch ms: a refresh obtained after this makes ours unnecessary
   * @param {boolean} automatic
   * @returns {Promise<RefreshOutcome>}
   */
  #refreshOnce(since, automatic) {
    if (this.#inFlight) {
      return this.#inFlight;
    }
    const p = (async () => {
      try {
        return await this.#withLock(() => this.#refreshLocked(since, automatic));
      } finally {
        this.#inFlight = null;
      }
    })();
    this.#inFlight = p;
    return p;
  }

  /**
   * Runs `fn` holding the cross-tab refresh lock when the Web Locks API is
   * there (it needs a secure context: https or localhost); else just runs it.
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  async #withLock(fn) {
    const locks = globalThis.navigator?.locks;
    if (!locks || typeof locks.request !== 'function') {
      return fn();
    }
    const signal = AbortSignal.timeout(this.#opts.lockTimeoutMs);
    try {
      return await locks.request(this.#opts.lockName, { signal }, fn);
    } catch (err) {
      if (/** @type {any} */ (err)?.name === 'AbortError' || /** @type {any} */ (err)?.name === 'TimeoutError') {
        return fn(); // another tab sat on the lock: refresh anyway, the grace window covers it
      }
      throw err;
    }
  }

  /**
   * @param {number} since
   * @param {boolean} automatic
   * @returns {Promise<RefreshOutcome>}
   */
  async #refreshLocked(since, automatic) {
    if (automatic && this.#dead) {
      return 'failed'; // e.g. another tab saw the session die while we waited
    }
    if (automatic && this.hasSession() === false) {
      // The hint is gone (logged out elsewhere, or the session ran out): a
      // refresh could only fail.
      this.#endSession('session-expired', 'no-session', true);
      return 'failed';
    }
    // Did anybody (this tab or another) obtain fresh cookies after `since`?
    const shared = this.#readShared();
    if (shared && shared.at > this.#stateAt && shared.expiresAt > Date.now()) {
      this.#adopt(shared.expiresAt, shared.at);
    }
    // (In bearer mode, only if this tab also holds a token obtained since.)
    const tokenFresh = !this.#opts.bearer || this.#accessTokenAt > since;
    if (tokenFresh && this.#stateAt > since && this.#expiresAt !== null && this.#expiresAt > Date.now()) {
      return 'skipped';
    }

    let res;
    try {
      res = await this.#fetchImpl(this.#url('/auth/refresh'), {
        method: 'POST',
        credentials: 'include',
        headers: { Accept: 'application/json' },
        signal: AbortSignal.timeout(this.#opts.refreshTimeoutMs),
      });
    } catch {
      this.#refreshFailed('network');
      return 'failed';
    }
    if (res.status === 401) {
      // Missing, expired, revoked or reused refresh token: the session is over.
      this.#endSession('session-expired', 'refresh-rejected', true);
      return 'failed';
    }
    if (!res.ok) {
      this.#refreshFailed(`refresh-http-${res.status}`); // 403 (origin), 429, 5xx
      return 'failed';
    }
    const body = /** @type {any} */ (await readJson(res));
    const at = Date.now();
    const expiresAt = parseTime(body?.expiresAt);
    this.#refreshFailures = 0;
    this.#dead = false;
    this.#keepToken(body, at);
    this.#adopt(expiresAt, at);
    this.#setState('logged-in');
    this.#broadcast({ type: 'refreshed', expiresAt, at });
    this.#emit('refresh', { expiresAt: this.expiresAt, source: 'local' });
    return 'refreshed';
  }

  /** @param {string} reason */
  #refreshFailed(reason) {
    this.#refreshFailures += 1;
    if (this.#refreshFailures >= this.#opts.maxRefreshFailures) {
      this.#endSession('session-expired', reason, true);
    }
  }

  /**
   * Bearer mode: keeps the body's `accessToken` (memory only).
   * @param {any} body
   * @param {number} at
   */
  #keepToken(body, at) {
    if (this.#opts.bearer && typeof body?.accessToken === 'string') {
      this.#accessToken = body.accessToken;
      this.#accessTokenAt = at;
    }
  }

  #resetFailures() {
    this.#refreshFailures = 0;
    this.#uselessRefreshes = 0;
  }

  /**
   * Takes a new access-token expiry as the tab's state and (re)arms the timer.
   * @param {number|null} expiresAt
   * @param {number} at
   */
  #adopt(expiresAt, at) {
    this.#expiresAt = expiresAt;
    this.#stateAt = at;
    this.#writeShared(expiresAt, at);
    this.#schedule();
  }

  #schedule() {
    this.#clearTimer();
    if (this.#closed || !this.#opts.proactiveRefresh || this.#expiresAt === null || this.#dead) {
      return;
    }
    const lifetime = this.#expiresAt - this.#stateAt;
    const skew = Math.min(this.#opts.refreshSkewMs, Math.max(0, lifetime) / 4);
    const delay = this.#expiresAt - skew - Date.now();
    if (!(delay > 0)) {
      // Expired already, or the clocks disagree: leave it to the 401 path
      // rather than risk a loop of immediate refreshes.
      return;
    }
    const since = this.#stateAt;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#refreshOnce(since, true).catch(() => {});
    }, Math.min(delay, 2 ** 31 - 1));
  }

  #clearTimer() {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  /**
   * The session is over in this browser: state, timer, shared hint, events.
   * A tab that never knew of a session (state `unknown` or `logged-out`)
   * just becomes `logged-out` quietly: an anonymous page load is no
   * "session expired".
   * @param {'logout'|'session-expired'} kind
   * @param {string} reason
   * @param {boolean} local  true when this tab found out (then tell the others)
   */
  #endSession(kind, reason, local) {
    const quiet = kind === 'session-expired' && this.#state !== 'logged-in' && local;
    this.#dead = true;
    this.#resetFailures();
    this.#user = null;
    this.#expiresAt = null;
    this.#accessToken = null;
    this.#currentSessionId = null;
    this.#clearTimer();
    this.#clearShared();
    this.#setState('logged-out');
    if (quiet) {
      return;
    }
    if (local) {
      this.#broadcast({ type: kind, reason });
    }
    this.#emit(kind, { reason, source: local ? 'local' : 'remote' });
  }

  /**
   * @param {AuthState} state
   * @param {boolean} [force]  emit `statechange` even if unchanged (e.g. user data)
   */
  #setState(state, force = false) {
    if (this.#state === state && !force) {
      return;
    }
    this.#state = state;
    this.#emit('statechange', { state, user: this.#user });
  }

  /**
   * @param {string} type
   * @param {Record<string, unknown>} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // -------------------------------------------------------- between tabs

  /** @param {Record<string, unknown>} msg */
  #broadcast(msg) {
    try {
      this.#channel?.postMessage({ v: PROTOCOL_VERSION, baseUrl: this.#baseUrl, ...msg });
    } catch {
      // a closed channel: nothing to tell
    }
  }

  /** @param {any} m */
  #onMessage(m) {
    if (!m || m.v !== PROTOCOL_VERSION || m.baseUrl !== this.#baseUrl || this.#closed) {
      return;
    }
    switch (m.type) {
      case 'login':
        this.#dead = false;
        this.#resetFailures();
        this.#user = m.user ?? null;
        this.#expiresAt = typeof m.expiresAt === 'number' ? m.expiresAt : null;
        this.#stateAt = Number(m.at) || Date.now();
        this.#schedule();
        this.#setState('logged-in', true);
        this.#emit('login', { user: this.#user, source: 'remote' });
        break;
      case 'refreshed':
        if (!(Number(m.at) > this.#stateAt)) {
          break;
        }
        this.#dead = false;
        this.#refreshFailures = 0;
        this.#expiresAt = typeof m.expiresAt === 'number' ? m.expiresAt : null;
        this.#stateAt = Number(m.at);
        this.#schedule();
        this.#setState('logged-in');
        this.#emit('refresh', { expiresAt: this.expiresAt, source: 'remote' });
        break;
      case 'logout':
      case 'session-expired':
        // Only a transition is news: a tab that already knows it is logged
        // out (e.g. it logged out itself and another tab's refresh then
        // failed) gets no second event.
        if (this.#state !== 'logged-out') {
          this.#endSession(m.type, String(m.reason ?? m.type), false);
        }
        break;
      default:
        break;
    }
  }

  /**
   * Non-secret, cross-tab hint of the newest access-token expiry (no token):
   * read synchronously by a tab that just got the refresh lock, because the
   * BroadcastChannel message of the tab that held it may not have arrived yet.
   */
  get #sharedKey() {
    return `tokengate:${this.#baseUrl}:refresh`;
  }

  /** @returns {{expiresAt: number, at: number}|null} */
  #readShared() {
    try {
      const raw = globalThis.localStorage?.getItem(this.#sharedKey);
      if (!raw) {
        return null;
      }
      const v = JSON.parse(raw);
      return typeof v?.expiresAt === 'number' && typeof v?.at === 'number' ? v : null;
    } catch {
      return null; // storage disabled: in-tab knowledge only
    }
  }

  /**
   * @param {number|null} expiresAt
   * @param {number} at
   */
  #writeShared(expiresAt, at) {
    try {
      if (expiresAt === null) {
        globalThis.localStorage?.removeItem(this.#sharedKey);
      } else {
        globalThis.localStorage?.setItem(this.#sharedKey, JSON.stringify({ expiresAt, at }));
      }
    } catch {
      // storage disabled or full: fine
    }
  }

  #clearShared() {
    this.#writeShared(null, 0);
  }

  // -------------------------------------------------------------- helpers

  /** @param {string|URL} path */
  #url(path) {
    const s = String(path);
    if (/^https?:\/\//i.test(s)) {
      return s;
    }
    return this.#baseUrl + (s.startsWith('/') ? s : `/${s}`);
  }

  /**
   * Whether a 401 from `url` means "refresh and retry": only for this API, and
   * never for the auth endpoints that answer 401 for other reasons.
   * @param {string} url
   */
  #refreshable(url) {
    if (!url.startsWith(`${this.#baseUrl}/`)) {
      return false;
    }
    const rest = url.slice(this.#baseUrl.length).split(/[?#]/)[0];
    return ![
      '/auth/login',
      '/auth/register',
      '/auth/refresh',
      '/auth/logout',
      '/auth/password/forgot',
      '/auth/password/reset',
      '/auth/email/verify',
    ].includes(rest);
  }

  /**
   * Whether `url` with `init`'s method is an endpoint that answers 401 for a
   * wrong password too (see `PASSWORD_CHECKED`).
   * @param {string} url
   * @param {ApiInit} init
   */
  #passwordChecked(url, init) {
    const rest = url.slice(this.#baseUrl.length).split(/[?#]/)[0];
    return PASSWORD_CHECKED.has(`${(init.method ?? 'GET').toUpperCase()} ${rest}`);
  }

  /**
   * One request, no refresh: credentials, JSON body and headers.
   * @param {string} url
   * @param {ApiInit} init
   * @returns {Promise<Response>}
   */
  #send(url, init) {
    const headers = new Headers(init.headers);
    let body = init.body;
    if (isJsonValue(body)) {
      body = JSON.stringify(body);
    }
    if (typeof body === 'string' && !headers.has('Content-Type')) {
      headers.set('Content-Type', 'application/json');
    }
    if (!headers.has('Accept')) {
      headers.set('Accept', 'application/json');
    }
    return this.#fetchImpl(url, { ...init, headers, body: /** @type {BodyInit|null|undefined} */ (body), credentials: 'include' });
  }

  /**
   * A request that must not trigger a refresh (login, register, logout):
   * parsed body of a 2xx, else ApiError.
   * @param {string} path
   * @param {ApiInit} init
   */
  async #plain(path, init) {
    const res = await this.#send(this.#url(path), init);
    if (!res.ok) {
      throw await ApiError.from(res);
    }
    return /** @type {any} */ (await readJson(res));
  }
}

/** The page's URL, or null outside a page (workers have one too). */
function pageUrl() {
  try {
    const href = globalThis.location?.href;
    return href && /^https?:/i.test(href) ? new URL(href) : null;
  } catch {
    return null;
  }
}

/**
 * A URL's site as browsers judge SameSite: scheme plus registrable domain.
 * Without the Public Suffix List this takes the last two labels of a name
 * (`app.example.com` → `example.com`), the whole host for an IP address or a
 * one-label name (`localhost`, `127.0.0.1`): it may miss a mismatch under a
 * multi-label suffix (`a.co.uk` vs `b.co.uk`), never reports a false one for
 * the usual setups.
 * @param {URL} url
 */
function siteOf(url) {
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const ip = /^\d+(\.\d+){3}$/.test(host) || host.startsWith('[');
  const labels = host.split('.');
  const domain = ip || labels.length <= 2 ? host : labels.slice(-2).join('.');
  return `${url.protocol}//${domain}`;
}

/**
 * @param {unknown} body
 * @returns {boolean} true for plain objects and arrays (sent as JSON)
 */
function isJsonValue(body) {
  if (body === null || typeof body !== 'object') {
    return false;
  }
  if (Array.isArray(body)) {
    return true;
  }
  const proto = Object.getPrototypeOf(body);
  return proto === Object.prototype || proto === null;
}

/**
 * @param {Response} res
 * @returns {Promise<unknown>} the JSON body, or null when there is none or it is not JSON
 */
async function readJson(res) {
  try {
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/**
 * Whether a 401 is the API's "no valid access token" (and not, say, a wrong
 * password): reads a copy of the body, so `res` stays unread.
 * @param {Response} res
 */
async function isUnauthenticated(res) {
  const body = /** @type {any} */ (await readJson(res.clone()));
  return body?.message === UNAUTHENTICATED_MESSAGE;
}

/**
 * The wait a `Retry-After` header asks for, in ms, capped at
 * `MAX_LOGIN_RETRY_WAIT_MS`; null when it is missing or not delay-seconds (a
 * whole number of seconds; an HTTP date, a negative or fractional number, or
 * anything else is not used).
 * @param {string|null} value
 * @returns {number|null}
 */
function retryAfterMs(value) {
  const match = /^\s*(\d{1,10})\s*$/.exec(value ?? '');
  if (!match) {
    return null;
  }
  return Math.min(Number(match[1]) * 1000, MAX_LOGIN_RETRY_WAIT_MS);
}

/**
 * @param {unknown} value
 * @returns {number|null} epoch ms
 */
function parseTime(value) {
  if (typeof value !== 'string') {
    return null;
  }
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}
