// Issue #18 in a real browser against the real API: the session hint (no
// request and no red 401 on an anonymous start, refresh before the call when
// the hint shows the access token expired, shared GETs), a second login
// revoking the session it replaces, and the localhost/127.0.0.1 trap.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  loginViaClient,
  newUser,
  openBrowser,
  openDemo,
  outputPath,
  startStack,
  waitForState,
  watchApi,
} from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
before(async () => {
  stack = await startStack('spa');
});
after(async () => {
  await stack?.stop();
});

/**
 * Everything a developer would see in red (or yellow) in devtools: console
 * errors and warnings, failed requests, HTTP errors, page errors.
 * @param {import('playwright-core').Page} page
 */
function watchFailures(page) {
  /** @type {string[]} */
  const failures = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      failures.push(`console ${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => failures.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) {
      failures.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    }
  });
  return failures;
}

/** Opens a blank page with failure and API watchers attached before navigation. */
async function watchedDemo(context, url) {
  const page = await context.newPage();
  const failures = watchFailures(page);
  const api = watchApi(page, stack.apiBase);
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, failures, api };
}

test('an anonymous visit of the demo: zero failed requests, zero console errors, not one API request', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const { page, failures, api } = await watchedDemo(browser.context, stack.demoUrl());
  await waitForState(page, 'logged-out');
  assert.equal(await page.evaluate(() => window.tokengate.hasSession()), false);
  // Let the page settle: wait for the network to go idle rather than sleep.
  await page.waitForLoadState('networkidle');
  assert.deepEqual(failures, [], 'nothing red in devtools');
  assert.deepEqual(api.sent, [], 'the hint said "no session": no request at all');
  assert.equal(await page.isVisible('#login-form'), true);
});

test('without the hint (sessionHint: false) the client falls back to asking the API', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const { page, api } = await watchedDemo(browser.context, stack.demoUrl({ hint: '0' }));
  await waitForState(page, 'logged-out');
  assert.equal(await page.evaluate(() => window.tokengate.hasSession()), null, 'cannot tell without the hint');
  // Today's behaviour (the red 401s the hint removes): the start-up request
  // and a refresh attempt, both 401, quietly (no session-expired).
  assert.deepEqual(
    api.seen.map((r) => `${r.method} ${r.path} ${r.status}`),
    ['GET /user/current-user 401', 'POST /auth/refresh 401'],
  );
  assert.equal(await page.textContent('#events'), '');
});

test('the hint: set by login, readable, two expiries; reload restores without a 401; logout clears it', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  await loginViaClient(page, newUser('hint'));

  const seen = await page.evaluate(() => ({
    cookie: document.cookie,
    has: window.tokengate.hasSession(),
    hint: window.tokengate.sessionHint,
    expiresAt: window.tokengate.expiresAt?.getTime(),
  }));
  assert.match(seen.cookie, /(^|; )tokengateSession=\d+\.\d+($|;)/);
  assert.doesNotMatch(seen.cookie, /accessToken|refreshToken|eyJ/);
  assert.equal(seen.has, true);
  assert.equal(seen.hint.accessExpiresAt, seen.expiresAt, 'the hint carries the access expiry of the login answer');
  assert.ok(seen.hint.refreshExpiresAt > Date.now() + 3_000_000, 'and the refresh expiry (1 h here)');

  // A reload: the hint says "session", so the client asks who we are, and gets it.
  // First let the logged-in view's own requests finish: a reload would abort
  // one still in flight (net::ERR_ABORTED), which is the reload's doing.
  await page.waitForLoadState('networkidle');
  const failures = watchFailures(page);
  const api = watchApi(page, stack.apiBase);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await waitForState(page, 'logged-in');
  assert.deepEqual(failures, []);
  assert.equal(api.seen.filter((r) => r.status === 401).length, 0);

  await page.click('#logout');
  await waitForState(page, 'logged-out');
  const after = await page.evaluate(() => ({ cookie: document.cookie, has: window.tokengate.hasSession() }));
  assert.doesNotMatch(after.cookie, /tokengateSession/);
  assert.equal(after.has, false);
});

test('an expired access token in the hint is refreshed BEFORE the first call: no 401 at all', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  // No proactive refresh: only the hint can prevent the 401.
  const page = await openDemo(browser.context, stack.demoUrl({ proactive: '0' }));
  await loginViaClient(page, newUser('expired'));
  await page.waitForSelector('#sessions tbody tr.current');
  // Wait (by polling the page's clock, no fixed sleep) until the hint shows the access token expired.
  await page.waitForFunction(() => window.tokengate.sessionHint.accessExpiresAt < Date.now(), null, { polling: 100, timeout: 15_000 });

  const api = watchApi(page, stack.apiBase);
  const setting = await page.evaluate(() => window.tokengate.reportSetting());
  assert.equal(setting.frequency, 'MONTHLY');
  assert.deepEqual(
    api.seen.map((r) => `${r.method} ${r.path} ${r.status}`),
    ['POST /auth/refresh 200', 'GET /report/setting 200'],
  );
});

test('concurrent identical GETs share one request; different ones do not', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  await loginViaClient(page, newUser('dedupe'));
  await page.waitForSelector('#sessions tbody tr.current');
  const api = watchApi(page, stack.apiBase);
  const names = await page.evaluate(async () => {
    const c = window.tokengate;
    const [a, b, d, s] = await Promise.all([
      c.request('/user/current-user'),
      c.request('/user/current-user'),
      c.request('/user/current-user'),
      c.request('/report/setting'),
    ]);
    return [a.user.name, b.user.name, d.user.name, s.reportSetting.frequency];
  });
  assert.equal(new Set(names.slice(0, 3)).size, 1, 'each caller got the body');
  assert.equal(api.sent.filter((r) => r.path === '/user/current-user').length, 1);
  assert.equal(api.sent.filter((r) => r.path === '/report/setting').length, 1);
  // Once settled, a new GET is a new request.
  await page.evaluate(() => window.tokengate.request('/user/current-user'));
  assert.equal(api.sent.filter((r) => r.path === '/user/current-user').length, 2);
});

test('a second login in the same browser revokes the session it replaces (other devices stay)', { timeout: 60_000 }, async (t) => {
  const laptop = await openBrowser();
  t.after(() => laptop.close());
  const phone = await openBrowser();
  t.after(() => phone.close());
  const user = newUser('twice');
  const page = await openDemo(laptop.context, stack.demoUrl());
  await loginViaClient(page, user);
  const phonePage = await openDemo(phone.context, stack.demoUrl());
  await phonePage.evaluate((u) => window.tokengate.login({ email: u.email, password: u.password }), user);
  await waitForState(phonePage, 'logged-in');

  const firstRefresh = (await laptop.context.cookies(`${stack.apiOrigin}/api/auth/refresh`)).find((c) => c.name === 'refreshToken')?.value;
  assert.ok(firstRefresh);
  const sessions = await page.evaluate(async (u) => {
    await window.tokengate.login({ email: u.email, password: u.password });
    return window.tokengate.sessions();
  }, user);
  assert.equal(sessions.length, 2, `the laptop's new session and the phone's: ${JSON.stringify(sessions)}`);
  assert.equal(sessions.filter((s) => s.current).length, 1);
  // The replaced session is revoked: its refresh token is refused by the server.
  const res = await fetch(`${stack.apiBase}/auth/refresh`, {
    method: 'POST',
    headers: { Origin: stack.spaOrigin, Cookie: `refreshToken=${firstRefresh}` },
  });
  assert.equal(res.status, 401);
  // And the phone is still logged in.
  assert.equal(await phonePage.evaluate(() => window.tokengate.refresh()), true);
});

test('the 127.0.0.1 trap: page on localhost, API on 127.0.0.1 — one console warning with the fix, the cookie check shows the cookies missing', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const trapBase = stack.apiBase.replace('//localhost:', '//127.0.0.1:');
  const page = await browser.context.newPage();
  /** @type {string[]} */
  const warnings = [];
  page.on('console', (m) => {
    if (m.type() === 'warning') {
      warnings.push(m.text());
    }
  });
  await page.goto(`${stack.spaOrigin}/?${new URLSearchParams({ api: trapBase })}`);
  await page.waitForSelector('body[data-ready="true"]');
  // Cannot see a cookie of another host: no hint, so it asks the API as before.
  assert.equal(await page.evaluate(() => window.tokengate.hasSession()), null);

  const user = newUser('trap');
  await page.evaluate(async (u) => {
    await window.tokengate.register(u);
    await window.tokengate.login({ email: u.email, password: u.password }); // 200: the API did set cookies
  }, user);
  await page.waitForSelector('#cookie-check[data-ok="false"]');
  const text = await page.textContent('#cookie-check');
  assert.match(text, /did not receive accessToken and refreshToken/);
  assert.match(text, /different sites/);
  assert.match(text, /page http:\/\/localhost:5173 with API http:\/\/localhost:8080/, 'the fix, localhost form first');
  const check = await page.evaluate(() => window.tokengate.checkCookies());
  assert.equal(check.accessCookie, false);
  // The warning came once, naming both origins and the fix (a second client does not repeat it).
  await page.evaluate(async () => {
    const { createClient } = await import('/tokengate-client.js');
    createClient({ baseUrl: window.tokengate.baseUrl, channelName: 'another' }).close();
  });
  const trap = warnings.filter((w) => w.includes('different sites'));
  assert.equal(trap.length, 1, warnings.join('\n'));
  assert.ok(trap[0].includes(stack.spaOrigin) && trap[0].includes(new URL(trapBase).origin));
  assert.match(trap[0], /http:\/\/localhost:8080/);
  await page.screenshot({ path: outputPath('spa-127-trap.png'), fullPage: true });
});

test('the same setup with localhost on both sides: no warning, the cookie check passes', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const { page, failures } = await watchedDemo(browser.context, stack.demoUrl());
  assert.equal(await page.evaluate(() => window.tokengate.siteMismatch), null);
  const user = newUser('samesite');
  await page.evaluate((u) => window.tokengate.register(u), user);
  await page.fill('#login-form input[name="email"]', user.email);
  await page.fill('#login-form input[name="password"]', user.password);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector('#cookie-check[data-ok="true"]');
  assert.deepEqual(failures, []);
});
