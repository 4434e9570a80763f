// @ts-check
/**
 * React bindings for tokengate-client (optional entry point
 * `tokengate-client/react`; React >= 18 is a peer dependency).
 *
 * @example
 * import { createClient } from 'tokengate-client';
 * import { AuthProvider, useAuth, RequireAuth } from 'tokengate-client/react';
 * const auth = createClient({ baseUrl: 'http://localhost:8080/api' });
 * <AuthProvider client={auth}>
 *   <RequireAuth fallback={<LoginPage />}><App /></RequireAuth>
 * </AuthProvider>
 * // in a component:
 * const { state, user, login, logout } = useAuth();
 */
import { Fragment, createContext, createElement, useContext, useEffect, useSyncExternalStore } from 'react';

/** @typedef {import('./tokengate-client.js').TokengateClient} TokengateClient */
/** @typedef {import('./tokengate-client.js').AuthState} AuthState */
/** @typedef {import('./tokengate-client.js').User} User */
/** @typedef {import('./tokengate-client.js').LoginResult} LoginResult */

/**
 * What `useAuth()` returns.
 * @typedef {Object} AuthValue
 * @property {AuthState} state  `unknown` until the start-up check tells
 * @property {User|null} user
 * @property {(credentials: {email: string, password: string}) => Promise<LoginResult>} login
 * @property {() => Promise<void>} logout
 * @property {TokengateClient} client  the client itself, for `request()` and the rest
 */

const AuthContext = createContext(/** @type {TokengateClient|null} */ (null));

/** @type {WeakMap<TokengateClient, {state: AuthState, user: User|null}>} */
const snapshots = new WeakMap();

/** @param {TokengateClient} client */
function snapshotOf(client) {
  const last = snapshots.get(client);
  if (last && last.state === client.state && last.user === client.user) {
    return last;
  }
  const next = { state: client.state, user: client.user };
  snapshots.set(client, next);
  return next;
}

/**
 * Provides `client` to `useAuth()` and runs the start-up check once
 * (`client.restore()`: no request at all when the session hint says there is
 * no session).
 * @param {{client: TokengateClient, restore?: boolean, children?: import('react').ReactNode}} props
 * @returns {import('react').ReactElement}
 */
export function AuthProvider({ client, restore = true, children }) {
  useEffect(() => {
    if (restore && client.state === 'unknown') {
      client.restore().catch((err) => console.warn('tokengate: the start-up session check failed', err));
    }
  }, [client, restore]);
  return createElement(AuthContext.Provider, { value: client }, children);
}

/**
 * The auth state, re-rendering on every change (also from other tabs).
 * @returns {AuthValue}
 */
export function useAuth() {
  const client = useContext(AuthContext);
  if (!client) {
    throw new Error('useAuth() must be used inside <AuthProvider client={…}>');
  }
  const { state, user } = useSyncExternalStore(
    (onChange) => {
      client.addEventListener('statechange', onChange);
      return () => client.removeEventListener('statechange', onChange);
    },
    () => snapshotOf(client),
  );
  return {
    state,
    user,
    login: (credentials) => client.login(credentials),
    logout: () => client.logout(),
    client,
  };
}

/**
 * A route guard: renders `children` when logged in, `fallback` (e.g. the
 * login page, or a router's redirect) when logged out, and `loading` while
 * the state is still unknown.
 * @param {{children?: import('react').ReactNode, fallback?: import('react').ReactNode, loading?: import('react').ReactNode}} props
 * @returns {import('react').ReactElement}
 */
export function RequireAuth({ children, fallback = null, loading = null }) {
  const { state } = useAuth();
  const shown = state === 'logged-in' ? children : state === 'logged-out' ? fallback : loading;
  return createElement(Fragment, null, shown);
}
