// Unit tests of web/tokengate-client.js in Node with a fake fetch: the rules
// of the client itself, deterministic and fast. (Node has EventTarget,
// CustomEvent and BroadcastChannel but no Web Locks: this also covers the
// fallback without locks.) The browser suites test it against the real API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, createClient } from '../../web/tokengate-client.js';

const BASE = 'http://api.test/api';
let channelCounter = 0;

/**
 * A fake API: `routes` maps "METHOD /path" to a handler returning
 * [status, body] (or a promise of it, or throwing for a network error).
 * @param {Record<string, (call: {init: RequestInit, n: number}) => any>} routes
 */
function fakeApi(routes) {
  /** @type {{method: string, path: string, init: RequestInit}[]} */
  const calls = [];
  /** @type {typeof fetch} */
  const fetchImpl = async (input, init = {}) => {
    const url = String(input);
    const method = init.method ?? 'GET';
    const path = url.slice(BASE.length);
    calls.push({ method, path, init });
    const handler = routes[`${method} ${path}`];
    if (!handler) {
      return new Response(JSON.stringify({ message: 'Not found' }), { status: 404 });
    }
    const n = calls.filter((c) => c.method === method && c.path === path).length;
    const [status, body] = await handler({ init, n });
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json' },
    });
  };
  return {
    fetch: fetchImpl,
    calls,
    /** @param {string} method @param {string} path */
    count(method, path) {
      return calls.filter((c) => c.method === method && c.path === path).length;
    },
  };
}

const later = (/** @type {number} */ ms) => new Date(Date.now() + ms).toISOString();
const tick = (/** @type {number} */ ms = 0) => new Promise((r) => setTimeout(r, ms));
const user = { _id: 'u1', name: 'Ada', email: 'ada@example.com', profilePicture: null, createdAt: '', updatedAt: '' };

/**
 * @param {import('node:test').TestContext} t
 * @param {ReturnType<typeof fakeApi>} api
 * @param {Partial<import('../../web/tokengate-client.js').ClientOptions>} [opts]
 */
function client(t, api, opts = {}) {
  const c = createClient({
    baseUrl: `${BASE}/`,
    fetch: api.fetch,
    proactiveRefresh: false,
    channelName: `unit-${process.pid}-${++channelCounter}`,
    ...opts,
  });
  t.after(() => c.close());
  /** @type {{type: string, detail: any}[]} */
  const events = [];
  for (const type of ['login', 'refresh', 'logout', 'session-expired', 'statechange']) {
    c.addEventListener(type, (e) => events.push({ type, detail: /** @type {CustomEvent} */ (e).detail }));
  }
  return { c, events };
}

const loginRoute = () => [200, { message: 'ok', user, accessToken: 'eyJ.secret.token', expiresAt: later(60_000), reportSetting: { frequency: 'MONTHLY', isEnabled: true } }];

test('requests: credentials always, JSON bodies, Accept header', async (t) => {
  const api = fakeApi({ 'PUT /report/setting': () => [200, { message: 'ok', reportSetting: { frequency: 'DAILY', isEnabled: true } }], 'POST /x': () => [200, {}] });
  const { c } = client(t, api);
  await c.updateReportSetting({ frequency: 'DAILY' });
  const put = api.calls[0];
  assert.equal(put.init.credentials, 'include');
  assert.equal(put.init.body, '{"frequency":"DAILY"}');
  const headers = new Headers(put.init.headers);
  assert.equal(headers.get('content-type'), 'application/json');
  assert.equal(headers.get('accept'), 'application/json');

  const form = new URLSearchParams({ a: '1' });
  await c.apiFetch('/x', { method: 'POST', body: form, credentials: 'omit' });
  assert.equal(api.calls[1].init.body, form, 'a non-JSON body is passed through');
  assert.equal(new Headers(api.calls[1].init.headers).get('content-type'), null);
  assert.equal(api.calls[1].init.credentials, 'include', 'credentials cannot be turned off');
});

test('login keeps no token: the result and the broadcast carry none', async (t) => {
  const api = fakeApi({ 'POST /auth/login': loginRoute });
  const { c, events } = client(t, api);
  const other = new BroadcastChannel(`unit-${process.pid}-${channelCounter}`);
  /** @type {any[]} */
  const heard = [];
  other.onmessage = (e) => heard.push(e.data);
  t.after(() => other.close());

  const result = await c.login({ email: 'ada@example.com', password: 'pw' });
  // BroadcastChannel delivers on another thread: wait for the message (20 ms
  // was not always enough on a busy machine), then a little for any second one.
  for (let i = 0; i < 200 && heard.length === 0; i++) {
    await tick(10);
  }
  await tick(20);
  assert.equal(JSON.stringify(result).includes('eyJ'), false);
  assert.equal(heard.length, 1);
  assert.equal(JSON.stringify(heard).includes('eyJ'), false);
  assert.equal(c.state, 'logged-in');
  assert.deepEqual(c.user, user);
  assert.deepEqual(events.map((e) => e.type), ['statechange', 'login']);
});

test('API errors become ApiError with status, message and field errors', async (t) => {
  const api = fakeApi({
    'POST /auth/register': () => [400, { message: 'Validation failed', errors: [{ field: 'email', message: 'bad' }] }],
  });
  const { c } = client(t, api);
  await assert.rejects(c.register({ name: 'A', email: 'x', password: 'p' }), (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 400);
    assert.equal(err.message, 'Validation failed');
    assert.deepEqual(err.errors, [{ field: 'email', message: 'bad' }]);
    return true;
  });
});

test('401 from the auth endpoints themselves never triggers a refresh', async (t) => {
  const api = fakeApi({
    'POST /auth/login': () => [401, { message: 'Invalid email or password' }],
    'POST /auth/refresh': () => [200, { expiresAt: later(60_000) }],
  });
  const { c } = client(t, api);
  await assert.rejects(c.login({ email: 'a@example.com', password: 'x' }), /Invalid email or password/);
  assert.equal(api.count('POST', '/auth/refresh'), 0);
});

test('parallel 401s share one refresh and are retried once each', async (t) => {
  let refreshed = false;
  const api = fakeApi({
    'GET /user/current-user': () => (refreshed ? [200, { user }] : [401, { message: 'no' }]),
    'POST /auth/refresh': async () => {
      await tick(30);
      refreshed = true;
      return [200, { message: 'Token refreshed', expiresAt: later(60_000) }];
    },
  });
  // dedupeGets off: five separate requests, each with its own 401 (with it
  // on they would be one request; spa.test.mjs covers that).
  const { c, events } = client(t, api, { dedupeGets: false });
  const statuses = await Promise.all(Array.from({ length: 5 }, () => c.apiFetch('/user/current-user').then((r) => r.status)));
  assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
  assert.equal(api.count('POST', '/auth/refresh'), 1);
  assert.equal(api.count('GET', '/user/current-user'), 10);
  assert.equal(events.filter((e) => e.type === 'refresh').length, 1);
});

test('a 401 arriving after a refresh that began later than its request just retries', async (t) => {
  // The slow request was sent with the old cookie; by the time its 401 comes
  // back the fast one has already refreshed: no second refresh.
  let refreshed = false;
  const api = fakeApi({
    'GET /slow': async () => {
      const was = refreshed;
      await tick(80);
      return was ? [200, {}] : [401, {}];
    },
    'GET /fast': () => (refreshed ? [200, {}] : [401, {}]),
    'POST /auth/refresh': async () => {
      // A real refresh takes a round trip; within the same millisecond as
      // the request the client cannot tell and refreshes again (harmless).
      await tick(5);
      refreshed = true;
      return [200, { expiresAt: later(60_000) }];
    },
  });
  const { c } = client(t, api);
  const [slow, fast] = await Promise.all([c.apiFetch('/slow'), c.apiFetch('/fast')]);
  assert.deepEqual([slow.status, fast.status], [200, 200]);
  assert.equal(api.count('POST', '/auth/refresh'), 1);
});

test('refresh answered 401: session-expired once, then no more refresh attempts', async (t) => {
  const api = fakeApi({
    'POST /auth/login': loginRoute,
    'GET /user/current-user': () => [401, {}],
    'POST /auth/refresh': () => [401, { message: 'Invalid refresh token' }],
  });
  const { c, events } = client(t, api);
  await c.login({ email: 'a@example.com', password: 'x' });
  for (let i = 0; i < 3; i++) {
    assert.equal((await c.apiFetch('/user/current-user')).status, 401);
  }
  assert.equal(api.count('POST', '/auth/refresh'), 1);
  assert.deepEqual(
    events.filter((e) => e.type === 'session-expired').map((e) => e.detail),
    [{ reason: 'refresh-rejected', source: 'local' }],
  );
  assert.equal(c.state, 'logged-out');
  await assert.rejects(c.currentUser(), (err) => err instanceof ApiError && err.status === 401);
});

test('an anonymous page load ends logged-out quietly (no session-expired)', async (t) => {
  const api = fakeApi({
    'GET /user/current-user': () => [401, {}],
    'POST /auth/refresh': () => [401, {}],
  });
  const { c, events } = client(t, api);
  assert.equal(c.state, 'unknown');
  await assert.rejects(c.currentUser(), ApiError);
  assert.equal(c.state, 'logged-out');
  assert.deepEqual(events.map((e) => e.type), ['statechange']);
});

test('failing refreshes (network, 5xx) give up after maxRefreshFailures', async (t) => {
  const api = fakeApi({
    'POST /auth/login': loginRoute,
    'GET /user/current-user': () => [401, {}],
    'POST /auth/refresh': ({ n }) => {
      if (n % 2) {
        throw new TypeError('Failed to fetch');
      }
      return [503, { message: 'busy' }];
    },
  });
  const { c, events } = client(t, api, { maxRefreshFailures: 3 });
  await c.login({ email: 'a@example.com', password: 'x' });
  for (let i = 0; i < 6; i++) {
    await c.apiFetch('/user/current-user');
  }
  assert.equal(api.count('POST', '/auth/refresh'), 3);
  assert.deepEqual(
    events.filter((e) => e.type === 'session-expired').map((e) => e.detail.reason),
    ['network'],
  );
  // A manual refresh still tries (what a "try again" button calls).
  api.calls.length = 0;
  assert.equal(await c.refresh(), false);
  assert.equal(api.count('POST', '/auth/refresh'), 1);
});

test('a second tab hears logout and session end; only transitions are events', async (t) => {
  const api = fakeApi({ 'POST /auth/login': loginRoute, 'POST /auth/logout': () => [200, { message: 'Logged out' }] });
  const name = `unit-shared-${process.pid}`;
  const { c: tabA } = client(t, api, { channelName: name });
  const { c: tabB, events: eventsB } = client(t, api, { channelName: name });

  await tabA.login({ email: 'a@example.com', password: 'x' });
  await tick(20);
  assert.equal(tabB.state, 'logged-in', 'tab B heard the login');
  assert.deepEqual(tabB.user, user);

  await tabA.logout();
  await tick(20);
  assert.equal(tabB.state, 'logged-out');
  assert.deepEqual(
    eventsB.filter((e) => e.type !== 'statechange').map((e) => [e.type, e.detail.source]),
    [['login', 'remote'], ['logout', 'remote']],
  );
  // A late session-expired from somewhere is no news to a logged-out tab.
  const ch = new BroadcastChannel(name);
  ch.postMessage({ v: 1, baseUrl: BASE, type: 'session-expired', reason: 'refresh-rejected' });
  ch.close();
  await tick(20);
  assert.equal(eventsB.filter((e) => e.type === 'session-expired').length, 0);
});

test('proactive refresh fires shortly before expiresAt', async (t) => {
  const api = fakeApi({
    'POST /auth/login': () => [200, { user, expiresAt: later(800) }],
    'POST /auth/refresh': () => [200, { expiresAt: later(60_000) }],
  });
  const { c } = client(t, api, { proactiveRefresh: true });
  await c.login({ email: 'a@example.com', password: 'x' });
  await tick(400);
  assert.equal(api.count('POST', '/auth/refresh'), 0, 'not too early');
  await tick(400); // due at ~600 ms (a quarter of the lifetime before expiry)
  assert.equal(api.count('POST', '/auth/refresh'), 1);
  await tick(200);
  assert.equal(api.count('POST', '/auth/refresh'), 1, 'then scheduled for the new expiry, not again');
});

test('baseUrl must be absolute http(s)', () => {
  assert.throws(() => createClient({ baseUrl: '/api' }), TypeError);
  assert.throws(() => createClient({ baseUrl: 'javascript:alert(1)' }), TypeError);
});
