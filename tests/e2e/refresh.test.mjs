// Silent refresh in a real browser: single flight per tab, coordination
// between tabs, the server's grace window, proactive refresh, and the bounds
// that stop a 401 → refresh → 401 loop.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACCESS_TTL_MS,
  loginViaClient,
  newUser,
  openBrowser,
  openDemo,
  sleep,
  startStack,
  waitForState,
  watchApi,
} from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
before(async () => {
  stack = await startStack('refresh');
});
after(async () => {
  await stack?.stop();
});

/**
 * These tests are about the 401 → refresh → retry path, which an SPA that
 * cannot see the session hint relies on: without the proactive refresh, the
 * hint's refresh-before-the-call and the sharing of identical GETs (each
 * tested in spa.test.mjs), the expired token must be met with 401s.
 */
const NO_HINT = { proactive: '0', hint: '0', dedupe: '0' };

/** Waits until the access cookie (Max-Age = its lifetime) has expired. */
const waitForAccessExpiry = () => sleep(ACCESS_TTL_MS + 1000);

/** A wall-clock instant a little ahead, for pages to act at the same moment. */
const soon = () => Date.now() + 400;

test('after the access token expires, five parallel apiFetch calls share ONE refresh', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl(NO_HINT));
  await loginViaClient(page, newUser('five'));
  const api = watchApi(page, stack.apiBase);

  await waitForAccessExpiry();
  api.reset();
  const statuses = await page.evaluate(() => {
    const c = /** @type {any} */ (window).tokengate;
    return Promise.all(Array.from({ length: 5 }, () => c.apiFetch('/user/current-user').then((r) => r.status)));
  });

  assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
  assert.equal(api.refreshes().length, 1, 'exactly one refresh request');
  assert.equal(api.responses('/auth/refresh', 200).length, 1);
  // Not vacuous: the token had expired, every call got a 401 first, then its retry.
  assert.equal(api.responses('/user/current-user', 401).length, 5);
  assert.equal(api.responses('/user/current-user', 200).length, 5);
});

test('two tabs hitting the expired token at the same moment: one refresh, both stay logged in', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const api = watchApi(browser.context, stack.apiBase);
  const tabA = await openDemo(browser.context, stack.demoUrl(NO_HINT));
  await loginViaClient(tabA, newUser('twotabs'));
  const tabB = await openDemo(browser.context, stack.demoUrl(NO_HINT));
  await waitForState(tabB, 'logged-in');

  await waitForAccessExpiry();
  api.reset();
  const at = soon();
  const call = (/** @type {number} */ when) =>
    new Promise((resolve) => setTimeout(resolve, when - Date.now())).then(() =>
      /** @type {any} */ (window).tokengate.apiFetch('/user/current-user').then((/** @type {Response} */ r) => r.status),
    );
  const both = await Promise.all([tabA.evaluate(call, at), tabB.evaluate(call, at)]);
  assert.deepEqual(both, [200, 200]);
  assert.equal(api.responses('/user/current-user', 401).length, 2, 'both tabs saw the expired token');
  assert.equal(api.refreshes().length, 1, 'the tabs coordinated on one refresh (Web Locks)');

  // A third call afterwards works in each tab, with no further refresh.
  const third = await Promise.all(
    [tabA, tabB].map((p) => p.evaluate(() => /** @type {any} */ (window).tokengate.apiFetch('/auth/sessions').then((/** @type {Response} */ r) => r.status))),
  );
  assert.deepEqual(third, [200, 200]);
  assert.equal(api.refreshes().length, 1);
  for (const p of [tabA, tabB]) {
    assert.equal(await p.getAttribute('#status', 'data-state'), 'logged-in');
  }
});

test('two tabs POSTing /auth/refresh at the same moment (grace window) both stay logged in', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  /** Per refresh answered 200: the refresh cookie it was sent with, and the one it set. */
  /** @type {{sent: string|undefined, set: string|undefined}[]} */
  const refreshes = [];
  browser.context.on('response', async (res) => {
    if (res.url() === `${stack.apiBase}/auth/refresh` && res.request().method() === 'POST' && res.status() === 200) {
      const sent = /refreshToken=([^;]*)/.exec((await res.request().headerValue('cookie')) ?? '')?.[1];
      const set = (await res.headersArray())
        .map((h) => (h.name.toLowerCase() === 'set-cookie' ? /^refreshToken=([^;]*)/.exec(h.value)?.[1] : undefined))
        .find((v) => v !== undefined);
      refreshes.push({ sent, set });
    }
  });
  const tabA = await openDemo(browser.context, stack.demoUrl(NO_HINT));
  await loginViaClient(tabA, newUser('grace'));
  const tabB = await openDemo(browser.context, stack.demoUrl(NO_HINT));
  await waitForState(tabB, 'logged-in');

  // Bypass the client's coordination: both tabs send the same refresh cookie
  // at once. On a busy machine one tab can send only after the other's answer
  // has replaced the cookie (then it is an ordinary second refresh, not this
  // case): try again, a bounded number of times, until both sent the same one.
  const raw = (/** @type {{when: number, base: string}} */ { when, base }) =>
    new Promise((resolve) => setTimeout(resolve, when - Date.now())).then(() =>
      fetch(`${base}/auth/refresh`, { method: 'POST', credentials: 'include' }).then((r) => r.status),
    );
  let pair;
  for (let i = 0; i < 5 && !pair; i++) {
    refreshes.length = 0;
    const at = soon();
    const both = await Promise.all([tabA.evaluate(raw, { when: at, base: stack.apiBase }), tabB.evaluate(raw, { when: at, base: stack.apiBase })]);
    assert.deepEqual(both, [200, 200], 'the second refresh with the same cookie falls in the grace window');
    await sleep(200); // let the response listener read the headers
    assert.equal(refreshes.length, 2, 'both answers were seen');
    if (refreshes[0].sent === refreshes[1].sent) {
      pair = refreshes.slice();
    }
  }
  assert.ok(pair, 'in 5 tries the two tabs never sent their refresh with the same cookie');
  assert.ok(pair[0].set && pair[1].set, 'both answers set a refresh cookie');
  assert.equal(pair[0].set, pair[1].set, 'both answers carry the SAME new refresh token (no second branch)');

  // Both tabs keep working, and the converged token refreshes again later.
  const calls = await Promise.all(
    [tabA, tabB].map((p) => p.evaluate(() => /** @type {any} */ (window).tokengate.apiFetch('/user/current-user').then((/** @type {Response} */ r) => r.status))),
  );
  assert.deepEqual(calls, [200, 200]);
  assert.equal(await tabA.evaluate(() => /** @type {any} */ (window).tokengate.refresh()), true);
  await waitForAccessExpiry();
  const later = await tabB.evaluate(() => /** @type {any} */ (window).tokengate.apiFetch('/auth/sessions').then((/** @type {Response} */ r) => r.status));
  assert.equal(later, 200);
  for (const p of [tabA, tabB]) {
    assert.equal(await p.getAttribute('#status', 'data-state'), 'logged-in');
  }
});

test('proactive refresh renews the token before it expires: no 401 at all', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  const api = watchApi(page, stack.apiBase);
  await loginViaClient(page, newUser('proactive'));

  await sleep(2.5 * ACCESS_TTL_MS);
  const status = await page.evaluate(() => /** @type {any} */ (window).tokengate.apiFetch('/user/current-user').then((/** @type {Response} */ r) => r.status));
  assert.equal(status, 200);
  assert.ok(api.responses('/auth/refresh', 200).length >= 2, `refreshed ahead of expiry (${api.refreshes().length} refreshes)`);
  assert.deepEqual(
    api.seen.filter((r) => r.status === 401),
    [],
    'the token never expired under the page',
  );
});

test('a session revoked elsewhere ends with session-expired in every tab, after one refresh attempt', { timeout: 60_000 }, async (t) => {
  const laptop = await openBrowser();
  t.after(() => laptop.close());
  const phone = await openBrowser();
  t.after(() => phone.close());
  const api = watchApi(laptop.context, stack.apiBase);
  const user = newUser('revoked');

  const tabA = await openDemo(laptop.context, stack.demoUrl(NO_HINT));
  await loginViaClient(tabA, user);
  const tabB = await openDemo(laptop.context, stack.demoUrl(NO_HINT));
  await waitForState(tabB, 'logged-in');
  for (const p of [tabA, tabB]) {
    await p.evaluate(() => {
      const w = /** @type {any} */ (window);
      w.seen = [];
      for (const type of ['logout', 'session-expired']) {
        w.tokengate.addEventListener(type, (/** @type {any} */ e) => w.seen.push({ type, ...e.detail }));
      }
    });
  }

  // Another device logs in and logs out everywhere.
  const other = await openDemo(phone.context, stack.demoUrl(NO_HINT));
  await other.evaluate((u) => /** @type {any} */ (window).tokengate.login(u), { email: user.email, password: user.password });
  await other.click('#logout-all');
  await waitForState(other, 'logged-out');

  await waitForAccessExpiry();
  api.reset();
  const status = await tabA.evaluate(() => /** @type {any} */ (window).tokengate.apiFetch('/user/current-user').then((/** @type {Response} */ r) => r.status));
  assert.equal(status, 401);
  assert.equal(api.refreshes().length, 1);
  assert.equal(api.responses('/auth/refresh', 401).length, 1, 'the revoked session cannot refresh');

  await tabB.waitForFunction(() => /** @type {any} */ (window).seen.length > 0);
  assert.deepEqual(await tabA.evaluate(() => /** @type {any} */ (window).seen), [
    { type: 'session-expired', reason: 'refresh-rejected', source: 'local' },
  ]);
  assert.deepEqual(await tabB.evaluate(() => /** @type {any} */ (window).seen), [
    { type: 'session-expired', reason: 'refresh-rejected', source: 'remote' },
  ]);
  await waitForState(tabA, 'logged-out');
  await waitForState(tabB, 'logged-out');

  // Tab B does not try again on its own next call.
  const b = await tabB.evaluate(() => /** @type {any} */ (window).tokengate.apiFetch('/user/current-user').then((/** @type {Response} */ r) => r.status));
  assert.equal(b, 401);
  assert.equal(api.refreshes().length, 1);
});

test('a 401 that survives refreshing stops after a bounded number of refreshes (no loop)', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl(NO_HINT));
  await loginViaClient(page, newUser('loop'));
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.seen = [];
    w.tokengate.addEventListener('session-expired', (/** @type {any} */ e) => w.seen.push(e.detail.reason));
  });
  const api = watchApi(page, stack.apiBase);
  // A resource the API keeps refusing although the refreshes succeed (as if
  // the browser dropped the new cookie): the client must not loop.
  // (A URL of its own, so the demo's own start-up calls cannot race into it.)
  const probe = `${stack.apiBase}/user/current-user?probe=loop`;
  await page.route((url) => url.href === probe, (route) =>
    route.fulfill({
      status: 401,
      headers: {
        'Access-Control-Allow-Origin': stack.spaOrigin,
        'Access-Control-Allow-Credentials': 'true',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ message: 'Unauthorized' }),
    }),
  );

  const statuses = await page.evaluate(async () => {
    const c = /** @type {any} */ (window).tokengate;
    const out = [];
    for (let i = 0; i < 6; i++) {
      out.push((await c.apiFetch('/user/current-user?probe=loop')).status);
    }
    return out;
  });
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401]);
  assert.equal(api.refreshes().length, 3, 'three refreshes (maxRefreshFailures), then it gave up');
  assert.deepEqual(await page.evaluate(() => /** @type {any} */ (window).seen), ['unauthorized-after-refresh']);
  await waitForState(page, 'logged-out');
});
