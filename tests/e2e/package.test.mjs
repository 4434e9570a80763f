// The npm package's optional entry points in Chromium against the real API:
// tokengate-client/react (web/react.html) and tokengate-client/rtk
// (web/rtk.html), both bundled by web/build-demos.mjs (scripts/e2e.sh runs
// it) from React and Redux Toolkit installed from npm, with tokengate-client
// resolved by its package name through package.json `exports`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, newUser, openBrowser, startStack, watchApi } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
before(async () => {
  for (const f of ['react-demo.js', 'rtk-demo.js']) {
    assert.ok(fs.existsSync(path.join(REPO, 'web', 'build', f)), `web/build/${f} missing: run node web/build-demos.mjs (scripts/e2e.sh does)`);
  }
  // Bearer-style apps need the token in the login/refresh bodies.
  // No leeway, so that a Bearer token is refused the moment it expires.
  stack = await startStack('package', { env: { EXPOSE_ACCESS_TOKEN: 'true', APP_JWT__LEEWAY: '0s' } });
});
after(async () => {
  await stack?.stop();
});

/** @param {string} page @param {Record<string, string>} [params] */
const url = (page, params = {}) => `${stack.spaOrigin}/${page}?${new URLSearchParams({ api: stack.apiBase, ...params })}`;

test('package.json: exports ., ./react, ./rtk with types; React and RTK only as peers', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'web', 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'tokengate-client');
  assert.equal(pkg.type, 'module');
  for (const entry of ['.', './react', './rtk']) {
    const e = pkg.exports[entry];
    assert.ok(e?.types && e?.default, entry);
    assert.ok(fs.existsSync(path.join(REPO, 'web', e.types)) && fs.existsSync(path.join(REPO, 'web', e.default)), entry);
  }
  assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
  assert.ok(pkg.peerDependencies.react && pkg.peerDependenciesMeta.react.optional);
});

test('React: RequireAuth shows the login form without a request, useAuth logs in and out', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await browser.context.newPage();
  /** @type {string[]} */
  const failures = [];
  page.on('pageerror', (e) => failures.push(e.message));
  page.on('console', (m) => m.type() === 'error' && failures.push(m.text()));
  const api = watchApi(page, stack.apiBase);
  await page.goto(url('react.html'));
  await page.waitForSelector('#status[data-state="logged-out"]');
  assert.equal(await page.isVisible('#login-form'), true, 'the guard shows the fallback');
  assert.equal(await page.isVisible('#account'), false);
  assert.deepEqual(api.sent, [], 'no session hint: no request');

  const user = newUser('react');
  await page.evaluate((u) => window.tokengate.register(u), user);
  await page.fill('#login-form input[name="email"]', user.email);
  await page.fill('#login-form input[name="password"]', 'wrong password');
  await page.click('#login-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById('login-message')?.textContent === 'Invalid email or password');
  failures.length = 0; // that 401 was asked for
  await page.fill('#login-form input[name="password"]', user.password);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector('#status[data-state="logged-in"]');
  assert.equal(await page.textContent('#status'), `Logged in as ${user.name}`);
  assert.equal(await page.textContent('#user-email'), user.email);

  // A reload restores the session through the provider's start-up check.
  await page.reload();
  await page.waitForSelector('#status[data-state="logged-in"]');
  assert.equal(await page.textContent('#user-email'), user.email);

  await page.click('#logout');
  await page.waitForSelector('#status[data-state="logged-out"]');
  assert.equal(await page.isVisible('#login-form'), true);
  assert.deepEqual(failures, []);
});

test('RTK Query: Bearer header sent, a stale one is 401 even with a valid cookie, one shared refresh re-authenticates', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await browser.context.newPage();
  /** @type {{path: string, auth: string|undefined}[]} */
  const sent = [];
  page.on('request', (req) => {
    if (req.url().startsWith(stack.apiBase)) {
      sent.push({ path: req.url().slice(stack.apiBase.length), auth: req.headers().authorization });
    }
  });
  const api = watchApi(page, stack.apiBase);
  await page.goto(url('rtk.html', { proactive: '0' }));
  await page.waitForSelector('body[data-ready="true"]');
  const user = newUser('rtk');
  await page.evaluate(async (u) => {
    await window.tokengate.register(u);
    await window.tokengate.login({ email: u.email, password: u.password });
  }, user);
  const first = await page.evaluate(() => window.tokengate.accessToken);
  assert.match(first, /^eyJ/, 'the client kept the exposed token (memory only)');

  const me = await page.evaluate(() => window.rtk.run('me'));
  assert.equal(me.data.user.email, user.email);
  assert.equal(sent.at(-1).auth, `Bearer ${first}`);

  // Let the access token expire (poll the client's clock; no fixed sleep).
  await page.waitForFunction(() => window.tokengate.expiresAt.getTime() + 1000 < Date.now(), null, { polling: 100, timeout: 15_000 });
  api.reset();
  sent.length = 0;
  const results = await page.evaluate(() => Promise.all(['me', 'setting', 'sessions'].map((n) => window.rtk.run(n))));
  assert.ok(results.every((r) => r.data), JSON.stringify(results));
  assert.equal(api.refreshes().length, 1, 'three 401s, one refresh');
  assert.equal(api.seen.filter((r) => r.status === 401).length, 3);
  const second = await page.evaluate(() => window.tokengate.accessToken);
  assert.notEqual(second, first);
  const retried = sent.filter((r) => r.path !== '/auth/refresh' && r.auth === `Bearer ${second}`);
  assert.equal(retried.length, 3, 'the retries carry the new token');

  // The precedence: the cookie is valid now, but a stale Bearer header wins (401).
  const status = await page.evaluate(
    async ([base, stale]) => (await fetch(`${base}/user/current-user`, { credentials: 'include', headers: { Authorization: `Bearer ${stale}` } })).status,
    [stack.apiBase, first],
  );
  assert.equal(status, 401);
  const withCookie = await page.evaluate(async (base) => (await fetch(`${base}/user/current-user`, { credentials: 'include' })).status, stack.apiBase);
  assert.equal(withCookie, 200);
});
