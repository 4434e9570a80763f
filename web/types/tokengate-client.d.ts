/**
 * Creates a client for one tokengate API.
 * @param {ClientOptions} options
 * @returns {TokengateClient}
 */
export function createClient(options: ClientOptions): TokengateClient;
/** The longest a login waits on a 503's `Retry-After` before its one retry. */
export const MAX_LOGIN_RETRY_WAIT_MS: 30000;
/** An error answer of the API: `status`, the server's `message`, field `errors`. */
export class ApiError extends Error {
    /**
     * Builds an ApiError from a non-2xx response.
     * @param {Response} res
     * @returns {Promise<ApiError>}
     */
    static from(res: Response): Promise<ApiError>;
    /**
     * @param {number} status
     * @param {string} message
     * @param {{field?: string, message: string}[]} [errors]
     * @param {unknown} [body]
     */
    constructor(status: number, message: string, errors?: {
        field?: string;
        message: string;
    }[], body?: unknown);
    /** HTTP status, 0 when no answer could be read. */
    status: number;
    /** Field errors of a 400, else empty. */
    errors: {
        field?: string;
        message: string;
    }[];
    /** The parsed body, if any. */
    body: unknown;
}
export class TokengateClient extends EventTarget {
    /** @param {ClientOptions} options */
    constructor(options: ClientOptions);
    /** @returns {AuthState} */
    get state(): AuthState;
    /** The user of the last login or `currentUser()`, or null. @returns {User|null} */
    get user(): User | null;
    /** When the access token expires, if known. @returns {Date|null} */
    get expiresAt(): Date | null;
    /**
     * Bearer mode only (`bearer: true`, API with `EXPOSE_ACCESS_TOKEN=true`):
     * the current access token for an `Authorization: Bearer` header, else null.
     * @returns {string|null}
     */
    get accessToken(): string | null;
    /**
     * For a wrapper that got a 401 for a request sent at `sentAt` (epoch ms):
     * refreshes through the single flight (shared with every caller and tab;
     * skipped when a refresh already happened after `sentAt`) and resolves
     * true when a retry is worth it. Bounded like the automatic refresh: it
     * resolves false once the client gave up, never loops.
     * @param {number} sentAt
     * @returns {Promise<boolean>}
     */
    reauthenticate(sentAt: number): Promise<boolean>;
    /** The API base URL, without a trailing slash. */
    get baseUrl(): string;
    /**
     * Whether the browser holds a session, from the session hint cookie,
     * without a request: true while the refresh token's expiry lies ahead,
     * false when there is no hint (or it ran out); null when this page cannot
     * see the hint (`sessionHint: false`, or 'auto' with the API on another
     * host) and only a request can tell.
     * @returns {boolean|null}
     */
    hasSession(): boolean | null;
    /**
     * The decoded session hint, or null (none, unreadable, or disabled).
     * @returns {SessionHint|null}
     */
    get sessionHint(): SessionHint | null;
    /**
     * Set when the page and the API are on different sites under SameSite
     * cookies (the text of the console warning), else null.
     * @returns {string|null}
     */
    get siteMismatch(): string | null;
    /**
     * The start-up check of a page load: who is logged in? With the session
     * hint and no session, resolves null at once without any request (state
     * `logged-out`); otherwise asks `/user/current-user` (refreshing first if
     * the hint shows the access token expired) and resolves the user, or null
     * when the API says there is no session. Other errors reject.
     * @returns {Promise<User|null>}
     */
    restore(): Promise<User | null>;
    /**
     * Asks the API which of this browser's cookies reached it
     * (`GET /auth/cookie-check`; never a 401, no secrets). After a login,
     * `accessCookie: false` means the browser drops the cookies.
     * @returns {Promise<CookieCheck>}
     */
    checkCookies(): Promise<CookieCheck>;
    /**
     * `addEventListener`, typed by `TokengateEventMap`.
     * @template {keyof TokengateEventMap} K
     * @param {K} type
     * @param {((ev: TokengateEventMap[K]) => void) | { handleEvent(ev: TokengateEventMap[K]): void } | null} listener
     * @param {boolean | AddEventListenerOptions} [options]
     * @returns {void}
     */
    addEventListener<K extends keyof TokengateEventMap>(type: K, listener: ((ev: TokengateEventMap[K]) => void) | {
        handleEvent(ev: TokengateEventMap[K]): void;
    } | null, options?: boolean | AddEventListenerOptions): void;
    /**
     * @template {keyof TokengateEventMap} K
     * @param {K} type
     * @param {((ev: TokengateEventMap[K]) => void) | { handleEvent(ev: TokengateEventMap[K]): void } | null} listener
     * @param {boolean | EventListenerOptions} [options]
     * @returns {void}
     */
    removeEventListener<K extends keyof TokengateEventMap>(type: K, listener: ((ev: TokengateEventMap[K]) => void) | {
        handleEvent(ev: TokengateEventMap[K]): void;
    } | null, options?: boolean | EventListenerOptions): void;
    /** Stops timers and closes the BroadcastChannel. */
    close(): void;
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
    apiFetch(path: string | URL, init?: ApiInit): Promise<Response>;
    /**
     * `apiFetch` + JSON: resolves to the parsed body of a 2xx answer, rejects
     * with an `ApiError` otherwise (and with a TypeError on network failure).
     * @template [T=any]
     * @param {string|URL} path
     * @param {ApiInit} [init]
     * @returns {Promise<T>}
     */
    request<T = any>(path: string | URL, init?: ApiInit): Promise<T>;
    /**
     * Creates an account. Does not log in (the API sets no cookie on register).
     * @param {{name: string, email: string, password: string}} input
     * @returns {Promise<User>}
     */
    register({ name, email, password }: {
        name: string;
        email: string;
        password: string;
    }): Promise<User>;
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
    login({ email, password }: {
        email: string;
        password: string;
    }): Promise<LoginResult>;
    /**
     * Logs out this browser: the API revokes the session and clears both
     * cookies; every tab gets a `logout` event. Rejects (and changes nothing
     * locally) when the API could not be reached or refused.
     * @returns {Promise<void>}
     */
    logout(): Promise<void>;
    /**
     * Revokes every session of the user (all devices), then clears this
     * browser's cookies; every tab gets a `logout` event.
     * @returns {Promise<void>}
     */
    logoutAll(): Promise<void>;
    /** @returns {Promise<User>} */
    currentUser(): Promise<User>;
    /** The user's live sessions (`current` marks this browser's). @returns {Promise<Session[]>} */
    sessions(): Promise<Session[]>;
    /**
     * Revokes one of the user's sessions. Revoking this browser's own session
     * (as last seen by `sessions()`) is a logout.
     * @param {string} id
     * @returns {Promise<void>}
     */
    revokeSession(id: string): Promise<void>;
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
    changePassword({ currentPassword, newPassword }: {
        currentPassword: string;
        newPassword: string;
    }): Promise<PasswordChangeResult>;
    /**
     * Asks for a password reset link (`POST /auth/password/forgot`). The API
     * answers the same whether or not an account exists for `email` (show its
     * `message`); the mail links to `{FRONTEND_URL}/reset-password?token=…`.
     * Rejects with 400 for an address that is not one, 429 when rate limited.
     * @param {{email: string}} input
     * @returns {Promise<MessageResult>}
     */
    forgotPassword({ email }: {
        email: string;
    }): Promise<MessageResult>;
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
    resetPassword({ token, newPassword }: {
        token: string;
        newPassword: string;
    }): Promise<MessageResult>;
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
    verifyEmail({ token }: {
        token: string;
    }): Promise<VerifyEmailResult>;
    /**
     * Mails a new verification link to the logged-in user
     * (`POST /auth/email/verify/resend`); earlier links stop working. Rejects
     * with 400 (`Email is already verified`) or 429.
     * @returns {Promise<MessageResult>}
     */
    resendVerification(): Promise<MessageResult>;
    /**
     * Starts an email change (`POST /auth/email/change`): the API mails a
     * confirmation link to `newEmail` and a notice to the current address; the
     * address changes only when that link is used (`verifyEmail`). A wrong
     * `password` rejects with 401 at once (no refresh, no second try); an
     * invalid or unchanged address with 400, a taken one with 409.
     * @param {{password: string, newEmail: string}} input
     * @returns {Promise<MessageResult>}
     */
    changeEmail({ password, newEmail }: {
        password: string;
        newEmail: string;
    }): Promise<MessageResult>;
    /**
     * Deletes the logged-in user's account (`DELETE /user`) with its sessions
     * and data; the API clears both cookies and every tab gets a `logout`
     * event (reason `account-deleted`). A wrong `password` rejects with 401 at
     * once (no refresh, no second try) and changes nothing.
     * @param {{password: string}} input
     * @returns {Promise<MessageResult>}
     */
    deleteAccount({ password }: {
        password: string;
    }): Promise<MessageResult>;
    /** @returns {Promise<ReportSetting>} */
    reportSetting(): Promise<ReportSetting>;
    /**
     * @param {Partial<Pick<ReportSetting, 'frequency'|'isEnabled'>>} patch
     * @returns {Promise<ReportSetting>}
     */
    updateReportSetting(patch: Partial<Pick<ReportSetting, "frequency" | "isEnabled">>): Promise<ReportSetting>;
    /**
     * Refreshes now (sharing an in-flight refresh of this tab). Unlike the
     * automatic refresh it also tries after the client gave up, so it can back
     * a "try again" button. Resolves true when the session is alive afterwards.
     * @returns {Promise<boolean>}
     */
    refresh(): Promise<boolean>;
    #private;
}
export type User = {
    _id: string;
    name: string;
    email: string;
    profilePicture: string | null;
    /**
     * whether the address was confirmed through
     * a link the API mailed to it (registration, `resendVerification`)
     */
    emailVerified: boolean;
    createdAt: string;
    updatedAt: string;
};
export type ReportSetting = {
    _id?: string | undefined;
    frequency: "DAILY" | "WEEKLY" | "MONTHLY";
    isEnabled: boolean;
};
export type Session = {
    id: string;
    createdAt: string;
    lastUsedAt: string;
    expiresAt: string;
    userAgent: string | null;
    ip: string | null;
    current: boolean;
};
export type LoginResult = {
    user: User;
    /**
     * RFC 3339 time at which the access token expires
     */
    expiresAt: string;
    reportSetting: ReportSetting | undefined;
};
/**
 * The answer of an account endpoint that only confirms: the API's `message`,
 * fit to show to the user.
 */
export type MessageResult = {
    message: string;
};
/**
 * What `changePassword` resolves to: this browser's session was rotated
 * (new cookies), every other session of the user revoked.
 */
export type PasswordChangeResult = {
    message: string;
    user: User;
    /**
     * RFC 3339 time at which the new access token expires
     */
    expiresAt: string;
};
/**
 * What `verifyEmail` resolves to: the user whose address is now verified
 * (after an email change, with the new address).
 */
export type VerifyEmailResult = {
    message: string;
    user: User;
};
/**
 * `remote`: another tab found out
 */
export type EventSource = "local" | "remote";
/**
 * The client's events and their `detail`:
 * `auth.addEventListener('logout', (e) => e.detail.reason)` is typed, and a
 * misspelled event name is a type error.
 */
export type TokengateEventMap = {
    login: CustomEvent<{
        user: User | null;
        source: EventSource;
    }>;
    refresh: CustomEvent<{
        expiresAt: Date | null;
        source: EventSource;
    }>;
    logout: CustomEvent<{
        reason: string;
        source: EventSource;
    }>;
    "session-expired": CustomEvent<{
        reason: string;
        source: EventSource;
    }>;
    statechange: CustomEvent<{
        state: AuthState;
        user: User | null;
    }>;
};
/**
 * What `GET /auth/cookie-check` answers: which cookies reached the API.
 */
export type CookieCheck = {
    accessCookie: boolean;
    refreshCookie: boolean;
    sessionHint: boolean;
    names: {
        access: string;
        refresh: string;
        hint: string;
    };
};
/**
 * The session hint cookie, decoded: epoch ms.
 */
export type SessionHint = {
    accessExpiresAt: number;
    refreshExpiresAt: number;
};
/**
 * `unknown` until the first call tells (a page load cannot see HttpOnly cookies).
 */
export type AuthState = "unknown" | "logged-in" | "logged-out";
export type ClientOptions = {
    /**
     * the API base, e.g. `http://localhost:8080/api`
     */
    baseUrl: string;
    /**
     * refresh shortly before `expiresAt`
     */
    proactiveRefresh?: boolean | undefined;
    /**
     * how long before `expiresAt` to refresh
     * (at most a quarter of the token's lifetime)
     */
    refreshSkewMs?: number | undefined;
    /**
     * consecutive failed refreshes, or
     * consecutive refreshes after which the retried call still got a 401, before
     * the client gives up with `session-expired` (a 401 from refresh ends it at once)
     */
    maxRefreshFailures?: number | undefined;
    /**
     * abort a refresh request after this long
     */
    refreshTimeoutMs?: number | undefined;
    /**
     * stop waiting for another tab's refresh
     * lock after this long and refresh anyway (the server's grace window makes that safe)
     */
    lockTimeoutMs?: number | undefined;
    /**
     * Web Locks name
     */
    lockName?: string | undefined;
    /**
     * BroadcastChannel name
     */
    channelName?: string | undefined;
    /**
     * use the API's readable
     * `tokengateSession` cookie. `'auto'`: only when the page's host is the API's
     * host (ports may differ), the one case where page JS can surely see it;
     * `true` when the API sets it with a `COOKIE_DOMAIN` that covers the page
     * (app.example.com + api.example.com with `COOKIE_DOMAIN=example.com`);
     * `false`: never (every state is learnt from a request, as before).
     */
    sessionHint?: boolean | "auto" | undefined;
    /**
     * the hint's name; default: the first
     * of `tokengateSession`, `__Host-tokengateSession`, `__Secure-tokengateSession`
     */
    sessionHintCookie?: string | undefined;
    /**
     * the API's cookie
     * SameSite (`COOKIE_SAMESITE`); with `lax`/`strict`, a page on another site
     * than the API gets a one-time console warning
     */
    sameSite?: "lax" | "strict" | "none" | undefined;
    /**
     * identical concurrent GETs share one request
     */
    dedupeGets?: boolean | undefined;
    /**
     * for apps that send `Authorization: Bearer`
     * (e.g. through `tokengate-client/rtk`): keep the `accessToken` that login and
     * refresh answer with (the API must run with `EXPOSE_ACCESS_TOKEN=true`) in
     * memory, as `accessToken`, never in storage or in a message to other tabs
     */
    bearer?: boolean | undefined;
    /**
     * fetch implementation (default: the global one)
     */
    fetch?: typeof fetch | undefined;
};
/**
 * `fetch`'s init, except that `body` may also be a plain object or array,
 * which is sent as JSON.
 */
export type ApiInit = Omit<RequestInit, "body"> & {
    body?: BodyInit | null | Record<string, unknown> | unknown[];
};
