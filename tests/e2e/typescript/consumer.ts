// A strict TypeScript consumer of the published package layout: compiled by
// scripts/e2e.sh with `tsc --strict --noEmit` against web/ (resolved through
// its package.json `exports` and `types`). Each @ts-expect-error must be an
// error, so a typing that goes loose fails the build too.
import {
  ApiError,
  createClient,
  type CookieCheck,
  type MessageResult,
  type PasswordChangeResult,
  type User,
  type VerifyEmailResult,
} from 'tokengate-client';
import { AuthProvider, RequireAuth, useAuth, type AuthValue } from 'tokengate-client/react';
import { tokengateBaseQuery } from 'tokengate-client/rtk';

const auth = createClient({ baseUrl: 'http://localhost:8080/api', sessionHint: 'auto' });

auth.addEventListener('logout', (e) => {
  const reason: string = e.detail.reason;
  const source: 'local' | 'remote' = e.detail.source;
  console.log(reason, source);
});
auth.addEventListener('login', (e) => {
  const user: User | null = e.detail.user;
  console.log(user?.email);
});
auth.addEventListener('refresh', (e) => console.log(e.detail.expiresAt?.toISOString()));
auth.addEventListener('statechange', (e) => console.log(e.detail.state));
// @ts-expect-error: a misspelled event name is a type error
auth.addEventListener('logut', () => {});
// @ts-expect-error: a logout event has no `user`
auth.addEventListener('logout', (e) => console.log(e.detail.user));

interface Me {
  user: User;
}
async function typedRequests(): Promise<string> {
  const me = await auth.request<Me>('/user/current-user');
  // @ts-expect-error: `request<Me>` is typed, `me.nope` does not exist
  console.log(me.nope);
  const has: boolean | null = auth.hasSession();
  const check: CookieCheck = await auth.checkCookies();
  const restored: User | null = await auth.restore();
  console.log(has, check.accessCookie, restored);
  try {
    await auth.login({ email: 'a@example.com', password: 'x' });
  } catch (err) {
    if (err instanceof ApiError) {
      return `${err.status} ${err.message}`;
    }
  }
  return me.user.name;
}

async function accountLifecycle(token: string): Promise<boolean> {
  const changed: PasswordChangeResult = await auth.changePassword({ currentPassword: 'old', newPassword: 'new-secret' });
  const expires: string = changed.expiresAt;
  const verified: boolean = changed.user.emailVerified;
  const forgot: MessageResult = await auth.forgotPassword({ email: 'a@example.com' });
  await auth.resetPassword({ token, newPassword: 'new-secret' });
  const confirmed: VerifyEmailResult = await auth.verifyEmail({ token });
  const resent: string = (await auth.resendVerification()).message;
  await auth.changeEmail({ password: 'new-secret', newEmail: 'b@example.com' });
  await auth.deleteAccount({ password: 'new-secret' });
  // @ts-expect-error: the current password is required
  await auth.changePassword({ newPassword: 'new-secret' });
  // @ts-expect-error: the token is an object field, not a bare string
  await auth.verifyEmail(token);
  // @ts-expect-error: changeEmail takes `newEmail`, not `email`
  await auth.changeEmail({ password: 'x', email: 'b@example.com' });
  // @ts-expect-error: deleting needs the password
  await auth.deleteAccount({});
  // @ts-expect-error: emailVerified is a boolean
  const wrong: string = confirmed.user.emailVerified;
  console.log(expires, forgot.message, resent, wrong);
  return verified;
}

function Profile(): string {
  const value: AuthValue = useAuth();
  if (value.state === 'logged-in') {
    return value.user?.name ?? '';
  }
  // @ts-expect-error: not a state
  const wrong: typeof value.state = 'logged_in';
  return String(wrong);
}

const guard = RequireAuth({ fallback: null, loading: null });
const provider = AuthProvider({ client: auth });
const baseQuery = tokengateBaseQuery({ client: auth, bearer: true });
// @ts-expect-error: the client is required
tokengateBaseQuery({ bearer: true });

export { typedRequests, accountLifecycle, Profile, guard, provider, baseQuery };
