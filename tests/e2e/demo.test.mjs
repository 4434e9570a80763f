// The demo SPA in a real browser: register, log in, tokens invisible to JS,
// a screenshot, and logout noticed by every tab.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACCESS_TTL_MS,
  loginViaClient,
  newUser,
  openBrowser,
  openDemo,
  outputPath,
  sleep,
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
  await page.screenshot({ path: outputPath('demo-logged-out.png'), fullPage: true });
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

test('the demo shows the API\'s errors: validation, taken email, wrong password', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  const user = newUser('errors');
  await waitForState(page, 'logged-out');

  const register = async (/** @type {string} */ password) => {
    await page.fill('#register-form input[name="name"]', user.name);
    await page.fill('#register-form input[name="email"]', user.email);
    await page.fill('#register-form input[name="password"]', password);
    await page.click('#register-form button[type="submit"]');
    await page.waitForFunction(() => !/…$/.test(document.getElementById('register-message')?.textContent ?? ''));
    return page.textContent('#register-message');
  };
  // 73 bytes: over bcrypt's limit, refused with a field error (never truncated).
  assert.match(await register('p'.repeat(73)), /password: .*72 bytes/i);
  assert.match(await register(user.password), /Account created/);
  assert.match(await register(user.password), /already registered/i, 'a taken email is refused');

  await page.fill('#login-form input[name="email"]', user.email);
  await page.fill('#login-form input[name="password"]', 'not-the-password');
  await page.click('#login-form button[type="submit"]');
  await page.waitForFunction(() => /Invalid email or password/.test(document.getElementById('login-message')?.textContent ?? ''));
  assert.equal(await page.getAttribute('#status', 'data-state'), 'logged-out');
});

test('sessions in the demo: revoke another device, then this browser', { timeout: 60_000 }, async (t) => {
  const laptop = await openBrowser();
  t.after(() => laptop.close());
  const phone = await openBrowser();
  t.after(() => phone.close());
  const user = newUser('sessions');

  const mine = await openDemo(laptop.context, stack.demoUrl({ proactive: '0' }));
  await loginViaClient(mine, user);
  const other = await openDemo(phone.context, stack.demoUrl({ proactive: '0' }));
  await other.evaluate((u) => /** @type {any} */ (window).tokengate.login(u), { email: user.email, password: user.password });
  await waitForState(other, 'logged-in');

  await mine.click('#reload-sessions');
  await mine.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 2);
  assert.equal(await mine.locator('#sessions tbody tr.current').count(), 1);
  await mine.click('#sessions tbody tr:not(.current) button.revoke');
  await mine.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 1);
  assert.equal(await mine.locator('#sessions tbody tr.current').count(), 1, 'this browser\'s session is the one left');

  // The revoked device keeps its access token until it expires, then its
  // refresh is refused and its page shows the logged-out state.
  await sleep(ACCESS_TTL_MS + 1000);
  const status = await other.evaluate(() => /** @type {any} */ (window).tokengate.apiFetch('/user/current-user').then((/** @type {Response} */ r) => r.status));
  assert.equal(status, 401);
  await waitForState(other, 'logged-out');
  assert.match(await other.textContent('#notice'), /session has ended/);

  // Revoking this browser's own session is a logout.
  await mine.click('#sessions tbody tr.current button.revoke');
  await waitForState(mine, 'logged-out');
  const left = await laptop.context.cookies(`${stack.apiBase}/auth/refresh`);
  assert.deepEqual(left.map((c) => c.name), []);
});

test('logout after the access token expired still revokes the session (found by the refresh cookie)', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl({ proactive: '0' }));
  await loginViaClient(page, newUser('late-logout'));
  const [oldRefresh] = (await browser.context.cookies(`${stack.apiBase}/auth/refresh`)).filter((c) => c.name === 'refreshToken');

  await sleep(ACCESS_TTL_MS + 1000);
  const jar = await browser.context.cookies(`${stack.apiBase}/auth/refresh`);
  // The session hint lives as long as the refresh cookie.
  assert.deepEqual(jar.map((c) => c.name).sort(), ['refreshToken', 'tokengateSession'], 'only the refresh cookie (and the hint) is left');

  await page.click('#logout');
  await waitForState(page, 'logged-out');
  assert.deepEqual((await browser.context.cookies(`${stack.apiBase}/auth/refresh`)).map((c) => c.name), []);
  await browser.context.addCookies([oldRefresh]);
  const status = await page.evaluate(
    (base) => fetch(`${base}/auth/refresh`, { method: 'POST', credentials: 'include' }).then((r) => r.status),
    stack.apiBase,
  );
  assert.equal(status, 401, 'the session was revoked');
});
