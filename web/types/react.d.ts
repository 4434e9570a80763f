/**
 * Provides `client` to `useAuth()` and runs the start-up check once
 * (`client.restore()`: no request at all when the session hint says there is
 * no session).
 * @param {{client: TokengateClient, restore?: boolean, children?: import('react').ReactNode}} props
 * @returns {import('react').ReactElement}
 */
export function AuthProvider({ client, restore, children }: {
    client: TokengateClient;
    restore?: boolean;
    children?: import("react").ReactNode;
}): import("react").ReactElement;
/**
 * The auth state, re-rendering on every change (also from other tabs).
 * @returns {AuthValue}
 */
export function useAuth(): AuthValue;
/**
 * A route guard: renders `children` when logged in, `fallback` (e.g. the
 * login page, or a router's redirect) when logged out, and `loading` while
 * the state is still unknown.
 * @param {{children?: import('react').ReactNode, fallback?: import('react').ReactNode, loading?: import('react').ReactNode}} props
 * @returns {import('react').ReactElement}
 */
export function RequireAuth({ children, fallback, loading }: {
    children?: import("react").ReactNode;
    fallback?: import("react").ReactNode;
    loading?: import("react").ReactNode;
}): import("react").ReactElement;
export type TokengateClient = import("./tokengate-client.js").TokengateClient;
export type AuthState = import("./tokengate-client.js").AuthState;
export type User = import("./tokengate-client.js").User;
export type LoginResult = import("./tokengate-client.js").LoginResult;
/**
 * What `useAuth()` returns.
 */
export type AuthValue = {
    /**
     * `unknown` until the start-up check tells
     */
    state: AuthState;
    user: User | null;
    login: (credentials: {
        email: string;
        password: string;
    }) => Promise<LoginResult>;
    logout: () => Promise<void>;
    /**
     * the client itself, for `request()` and the rest
     */
    client: TokengateClient;
};
