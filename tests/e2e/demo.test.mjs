// The demo SPA in a real browser: register, log in, tokens invisible to JS,
// a screenshot, and logout noticed by every tab.
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
  stack = await startStack('demo');
});
after(async () => {
  await stack?.stop();
});

test('register and log in through the demo page: tokens stay out of JS, the user appears', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  const user = newUser('demo');

  await waitForState(page, 'logged-out');
  await page.fill('#register-form input[name="name"]', user.name);
  await page.fill('#register-form input[name="email"]', user.email);
  await page.fill('#register-form input[name="password"]', user.password);
  await page.click('#register-form button[type="submit"]');
  await page.waitForSelector('#register-message.ok');
  assert.match(await page.textContent('#register-message'), /Account created/);
  // The login form was prefilled with the new address.
  assert.equal(await page.inputValue('#login-form input[name="email"]'), user.email);

  await page.fill('#login-form input[name="password"]', user.password);
  await page.click('#login-form button[type="submit"]');
  await waitForState(page, 'logged-in');
  assert.equal(await page.textContent('#status'), `Logged in as ${user.name}`);
  await page.waitForFunction((email) => document.getElementById('user-email')?.textContent === email, user.email);
  assert.equal(await page.textContent('#user-name'), user.name);

  // Both cookies exist and are HttpOnly (so the next check is not vacuous) ...
  const cookies = await browser.context.cookies(stack.apiOrigin + '/api/auth/refresh');
  const byName = Object.fromEntries(cookies.map((c) => [c.name, c]));
  assert.ok(byName.accessToken, 'the browser holds an accessToken cookie');
  assert.ok(byName.refreshToken, 'the browser holds a refreshToken cookie');
  assert.equal(byName.accessToken.httpOnly, true);
  assert.equal(byName.refreshToken.httpOnly, true);
  assert.equal(byName.accessToken.sameSite, 'Lax');
  assert.equal(byName.refreshToken.path, '/api/auth');
  // ... yet the page sees neither: not in document.cookie (cookies are per
  // host, so the SPA on another localhost port would see them if they were
  // not HttpOnly), and nothing token-like in its storage.
  const visible = await page.evaluate(() => ({
    cookie: document.cookie,
    storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
  }));
  assert.doesNotMatch(visible.cookie, /accessToken|refreshToken/);
  assert.doesNotMatch(visible.storage, /eyJ[\w-]+\.[\w-]+/, 'no JWT in web storage');
  assert.doesNotMatch(visible.storage, new RegExp(byName.accessToken.value.slice(-16)));

  // The rest of the account loads: report setting and this session.
  await page.waitForSelector('#sessions tbody tr.current');
  await page.waitForFunction(() => document.querySelector('#report-form select')?.value === 'MONTHLY');
  await page.screenshot({ path: outputPath('demo-after-login.png'), fullPage: true });
});

test('report setting: view and update through the demo page', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  await loginViaClient(page, newUser('report'));
  await page.waitForFunction(() => document.querySelector('#report-form select')?.value === 'MONTHLY');
  assert.equal(await page.isChecked('#report-form input[name="isEnabled"]'), true);

  await page.selectOption('#report-form select[name="frequency"]', 'WEEKLY');
  await page.uncheck('#report-form input[name="isEnabled"]');
  await page.click('#report-form button[type="submit"]');
  await page.waitForSelector('#report-message.ok');
  assert.match(await page.textContent('#report-message'), /weekly, off/);

  // It was stored: a fresh load of the page shows it.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await waitForState(page, 'logged-in');
  await page.waitForFunction(() => document.querySelector('#report-form select')?.value === 'WEEKLY');
  assert.equal(await page.isChecked('#report-form input[name="isEnabled"]'), false);
});

test('logout in one tab is noticed by the other, whose next call is logged out', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const api = watchApi(browser.context, stack.apiBase);
  const tabA = await openDemo(browser.context, stack.demoUrl());
  await loginViaClient(tabA, newUser('logout'));
  const tabB = await openDemo(browser.context, stack.demoUrl());
  await waitForState(tabB, 'logged-in'); // the shared cookie: tab B is in without logging in

  await tabB.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.seen = [];
    for (const type of ['logout', 'session-expired']) {
      w.tokengate.addEventListener(type, (/** @type {any} */ e) => w.seen.push({ type, ...e.detail }));
    }
  });

  const [oldRefresh] = (await browser.context.cookies(`${stack.apiBase}/auth/refresh`)).filter(
    (c) => c.name === 'refreshToken',
  );
  assert.ok(oldRefresh, 'logged in: the browser holds a refresh cookie');

  await tabA.click('#logout');
  await waitForState(tabA, 'logged-out');
  assert.equal(api.responses('/auth/logout', 200).length, 1);

  await tabB.waitForFunction(() => /** @type {any} */ (window).seen.length > 0);
  const seen = await tabB.evaluate(() => /** @type {any} */ (window).seen);
  assert.deepEqual(seen, [{ type: 'logout', reason: 'logout', source: 'remote' }]);
  await waitForState(tabB, 'logged-out');
  assert.match(await tabB.textContent('#notice'), /logged out in another tab/);

  // Tab B's next call: 401 and the logged-out state, without a refresh attempt.
  api.reset();
  const next = await tabB.evaluate(async () => {
    const c = /** @type {any} */ (window).tokengate;
    const res = await c.apiFetch('/user/current-user');
    return { status: res.status, state: c.state };
  });
  assert.deepEqual(next, { status: 401, state: 'logged-out' });
  assert.equal(api.refreshes().length, 0, 'a tab that knows it is logged out does not try to refresh');

  // The cookies are cleared, and the session is really gone on the server:
  // its old refresh token, put back into the jar, is refused.
  const left = await browser.context.cookies(`${stack.apiBase}/auth/refresh`);
  assert.deepEqual(left.map((c) => c.name), [], 'logout cleared both cookies');
  await browser.context.addCookies([oldRefresh]);
  const refresh = await tabB.evaluate(async (base) => {
    const res = await fetch(`${base}/auth/refresh`, { method: 'POST', credentials: 'include' });
    return res.status;
  }, stack.apiBase);
  assert.equal(refresh, 401);
});
