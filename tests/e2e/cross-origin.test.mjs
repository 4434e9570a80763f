// A page on a not-allowed origin. It is on `localhost` too (another port), so
// it is SAME-SITE with the API: the browser attaches the user's SameSite=Lax
// cookies to its requests. CORS keeps it from reading answers; the API's
// Origin check must keep it from changing anything.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loginViaClient, newUser, openBrowser, openDemo, startStack, waitForState } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
before(async () => {
  stack = await startStack('cross-origin');
});
after(async () => {
  await stack?.stop();
});

/**
 * Watches a page's network through the DevTools protocol: the raw request
 * headers (Cookie, Origin) and the status as the network saw them, also for
 * requests whose answer the page itself may not read (CORS failures, opaque
 * no-cors answers), which Playwright's own events do not fully report.
 * @param {import('playwright-core').BrowserContext} context
 * @param {import('playwright-core').Page} page
 */
async function watchNetwork(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  /** @typedef {{url?: string, method?: string, headers?: Record<string, string>, status?: number, responseHeaders?: Record<string, string>, corsError?: string, taken?: boolean}} Entry */
  /** @type {Map<string, Entry>} */
  const byId = new Map();
  const entry = (/** @type {string} */ id) => {
    let e = byId.get(id);
    if (!e) {
      e = {};
      byId.set(id, e);
    }
    return e;
  };
  const lower = (/** @type {Record<string, string>} */ h) =>
    Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
  cdp.on('Network.requestWillBeSent', (e) => Object.assign(entry(e.requestId), { url: e.request.url, method: e.request.method }));
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => Object.assign(entry(e.requestId), { headers: lower(e.headers) }));
  cdp.on('Network.responseReceivedExtraInfo', (e) =>
    Object.assign(entry(e.requestId), { status: e.statusCode, responseHeaders: lower(e.headers) }),
  );
  cdp.on('Network.loadingFailed', (e) => {
    if (e.corsErrorStatus) {
      entry(e.requestId).corsError = e.corsErrorStatus.corsError;
    }
  });
  return {
    /**
     * The next not yet returned request to `url`, once its answer arrived.
     * @param {string} url
     * @param {{ cors?: boolean }} [opts]  also wait for the CORS verdict
     */
    async next(url, opts = {}) {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        for (const e of byId.values()) {
          if (!e.taken && e.url === url && e.headers && e.status !== undefined && (!opts.cors || e.corsError)) {
            e.taken = true;
            return { ...e, cookie: e.headers.cookie ?? '', origin: e.headers.origin };
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const partial = [...byId.values()].filter((e) => e.url === url);
      throw new Error(`no complete request to ${url} was seen: ${JSON.stringify(partial)}`);
    },
  };
}

test('a page on a not-allowed origin cannot read API responses (CORS)', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const spa = await openDemo(browser.context, stack.demoUrl());
  await loginViaClient(spa, newUser('cors'));

  const evil = await browser.context.newPage();
  const net = await watchNetwork(browser.context, evil);
  await evil.goto(`${stack.evilOrigin}/`);
  const url = `${stack.apiBase}/auth/sessions`;
  const attempt = await evil.evaluate(async (u) => {
    try {
      const res = await fetch(u, { credentials: 'include' });
      return { read: true, status: res.status, body: await res.text() };
    } catch (err) {
      return { read: false, error: String(err) };
    }
  }, url);
  assert.equal(attempt.read, false, `the foreign page read the answer: ${JSON.stringify(attempt)}`);
  assert.match(attempt.error, /TypeError/);

  // Not vacuous: the request did reach the API with the user's cookies and was
  // answered; the browser withheld the answer for want of CORS approval.
  const seen = await net.next(url, { cors: true });
  assert.equal(seen.origin, stack.evilOrigin);
  assert.match(seen.cookie, /accessToken=/);
  assert.equal(seen.status, 200);
  assert.equal(seen.corsError, 'MissingAllowOriginHeader');
  assert.equal(seen.responseHeaders?.['access-control-allow-origin'], undefined, 'no ACAO for a foreign origin');

  // The same call from the SPA's own origin is readable.
  const own = await spa.evaluate(() => /** @type {any} */ (window).tokengate.sessions().then((/** @type {any[]} */ s) => s.length));
  assert.equal(own, 1);
});

test('no-preflight POSTs to logout-all from a not-allowed origin arrive with cookies, get 403, and change nothing', { timeout: 60_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const spa = await openDemo(browser.context, stack.demoUrl({ proactive: '0' }));
  await loginViaClient(spa, newUser('csrf'));
  const sessionsBefore = await spa.evaluate(() => /** @type {any} */ (window).tokengate.sessions());
  assert.equal(sessionsBefore.length, 1);

  const evil = await browser.context.newPage();
  const net = await watchNetwork(browser.context, evil);
  await evil.goto(`${stack.evilOrigin}/`);
  const logoutAll = `${stack.apiBase}/auth/logout-all`;

  // 1. fetch with mode no-cors and a text/plain body: a "simple" request, sent
  //    without a preflight, with credentials.
  const opaque = await evil.evaluate(async (u) => {
    const res = await fetch(u, {
      method: 'POST',
      mode: 'no-cors',
      credentials: 'include',
      headers: { 'Content-Type': 'text/plain' },
      body: '{}',
    });
    return res.type;
  }, logoutAll);
  assert.equal(opaque, 'opaque');
  let seen = await net.next(logoutAll);
  assert.equal(seen.origin, stack.evilOrigin);
  assert.match(seen.cookie, /accessToken=/, 'the same-site request carried the access cookie');
  assert.match(seen.cookie, /refreshToken=/, 'and the refresh cookie (Path=/api/auth)');
  assert.equal(seen.status, 403, 'the Origin check refused it');

  // 2. A classic form POST (a top-level navigation).
  await evil.evaluate((u) => {
    const form = document.createElement('form');
    form.method = 'POST';
    form.action = u;
    form.enctype = 'text/plain';
    const input = document.createElement('input');
    input.name = 'x';
    input.value = 'y';
    form.append(input);
    document.body.append(form);
    form.submit();
  }, logoutAll);
  seen = await net.next(logoutAll);
  assert.equal(seen.origin, stack.evilOrigin);
  assert.match(seen.cookie, /accessToken=/);
  assert.equal(seen.status, 403);
  // The answer is in, but the navigation it belongs to may still be going:
  // let it finish, or the next goto is interrupted by it.
  await evil.waitForURL(logoutAll);

  // 3. The same trick on refresh: refused before anything rotates.
  const refresh = `${stack.apiBase}/auth/refresh`;
  await evil.goto(`${stack.evilOrigin}/`);
  await evil.evaluate((u) => fetch(u, { method: 'POST', mode: 'no-cors', credentials: 'include' }).then(() => undefined), refresh);
  seen = await net.next(refresh);
  assert.equal(seen.origin, stack.evilOrigin);
  assert.match(seen.cookie, /refreshToken=/);
  assert.equal(seen.status, 403);

  // The user's session survived all of it: the 403s cleared no cookie (a
  // Set-Cookie on an opaque answer would still apply), the session is still
  // listed and refreshable, and the logged-in tab keeps working.
  const jar = await browser.context.cookies(`${stack.apiBase}/auth/refresh`);
  assert.deepEqual(jar.map((c) => c.name).sort(), ['accessToken', 'refreshToken', 'tokengateSession']);
  assert.ok(jar.every((c) => c.value !== ''), 'no cookie was emptied');
  const after = await spa.evaluate(async () => {
    const c = /** @type {any} */ (window).tokengate;
    const sessions = await c.sessions();
    const refreshed = await c.refresh();
    const me = await c.apiFetch('/user/current-user');
    return { ids: sessions.map((/** @type {any} */ s) => s.id), refreshed, me: me.status };
  });
  assert.deepEqual(after, { ids: sessionsBefore.map((/** @type {any} */ s) => s.id), refreshed: true, me: 200 });
  await waitForState(spa, 'logged-in');
});
