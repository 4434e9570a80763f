// Issue 14 in a real browser, with real mail: the API sends through SMTP to
// tests/smtp/sink.mjs, the tests read the delivered messages and open their
// links exactly as mailed ({FRONTEND_URL}/verify-email?token=…,
// {FRONTEND_URL}/reset-password?token=…; FRONTEND_URL is the demo's origin).
// Verify an address, forgot → reset → log in, change the password while a
// second browser is logged out by it, change the email, delete the account.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACCESS_TTL_MS,
  loginViaClient,
  mailLink,
  newUser,
  openBrowser,
  openDemo,
  outputPath,
  sleep,
  startStack,
  waitForState,
  watchApi,
} from './harness.mjs';

const SUBJECT = {
  verify: 'Verify your email address',
  reset: 'Reset your password',
  changed: 'Your password was changed',
  confirmNew: 'Confirm your new email address',
  noticeOld: 'Your email address is being changed',
};
const FORGOT_ANSWER = 'If an account exists for that email, a password reset link has been sent';

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
before(async () => {
  stack = await startStack('account');
});
after(async () => {
  await stack?.stop();
});

/** @typedef {import('playwright-core').Page} Page */

/**
 * The text of a form's message once it is no longer a "…ing…" progress note.
 * @param {Page} page
 * @param {string} id
 */
async function settled(page, id) {
  await page.waitForFunction((el) => {
    const text = document.getElementById(el)?.textContent ?? '';
    return text !== '' && !/…$/.test(text);
  }, id);
  return /** @type {string} */ (await page.textContent(`#${id}`));
}

/**
 * Fills a form's fields by name and submits it; resolves the settled message.
 * @param {Page} page
 * @param {string} form  the form's id
 * @param {Record<string, string>} fields
 * @param {string} message  the id of its message element
 */
async function submit(page, form, fields, message) {
  await page.evaluate((id) => {
    const el = document.getElementById(id);
    if (el) el.textContent = '';
  }, message);
  for (const [name, value] of Object.entries(fields)) {
    await page.fill(`#${form} input[name="${name}"]`, value);
  }
  await page.click(`#${form} button[type="submit"]`);
  return settled(page, message);
}

/**
 * Opens a mailed link as it is (no ?api=: the demo's config.js names the API)
 * in a new tab of `context`, and checks that loading it sent nothing to
 * `endpoint`: the token is only used when the form is submitted.
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} link
 * @param {string} endpoint  e.g. /auth/email/verify
 */
async function openLink(context, link, endpoint) {
  const api = watchApi(context, stack.apiBase);
  const page = await openDemo(context, link);
  await sleep(500); // time for anything the page might send on its own
  assert.deepEqual(
    api.sent.filter((r) => r.path.startsWith(endpoint)).map((r) => `${r.method} ${r.path}`),
    [],
    `opening ${new URL(link).pathname} must not send the token`,
  );
  return page;
}

/**
 * A mailed link: on the demo's origin, at `pathname`, with a token.
 * @param {import('./harness.mjs').Mail} mail
 * @param {string} pathname
 */
function linkOf(mail, pathname) {
  const link = mailLink(mail, pathname);
  const url = new URL(link);
  assert.equal(url.origin, stack.spaOrigin, 'the link points at FRONTEND_URL, the demo');
  assert.match(url.searchParams.get('token') ?? '', /^[\w-]{20,}$/, 'a URL-safe token');
  return link;
}

test('register → verification mail → the verify page confirms the address, on submit only, once', { timeout: 90_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  const user = newUser('verify');
  await waitForState(page, 'logged-out');

  assert.match(
    await submit(page, 'register-form', { name: user.name, email: user.email, password: user.password }, 'register-message'),
    /Account created/,
  );
  const mail = await stack.mail.next(user.email, { subject: SUBJECT.verify });
  assert.match(mail.from ?? '', /no-reply@tokengate\.test/, 'sent from MAIL_FROM');
  const link = linkOf(mail, '/verify-email');

  // A mail scanner fetching the link gets the page, and burns nothing.
  const scanned = await fetch(link);
  assert.equal(scanned.status, 200);
  assert.match(await scanned.text(), /id="verify-form"/);

  // Logged in, the account view says: not verified, with a resend button.
  await page.fill('#login-form input[name="password"]', user.password);
  await page.click('#login-form button[type="submit"]');
  await waitForState(page, 'logged-in');
  await page.waitForSelector('#user-verified[data-verified="false"]');
  assert.equal(await page.textContent('#user-verified'), 'no');
  assert.equal(await page.isVisible('#resend-verification'), true);

  const tab = await openLink(browser.context, link, '/auth/email/verify');
  assert.equal(await tab.isVisible('#verify-form'), true);
  assert.equal(await tab.isVisible('#auth-forms'), false);
  assert.equal(await tab.isVisible('#account'), false);
  await tab.screenshot({ path: outputPath('account-verify-page.png'), fullPage: true });
  await tab.click('#verify-form button[type="submit"]');
  assert.equal(await settled(tab, 'verify-message'), `Email verified: ${user.email}`);
  assert.equal(await tab.getAttribute('#verify-message', 'class'), 'message ok');

  // The account view shows it (after a reload of the user).
  await page.click('#reload-user');
  await page.waitForSelector('#user-verified[data-verified="true"]');
  assert.equal(await page.textContent('#user-verified'), 'yes');
  assert.equal(await page.isVisible('#resend-verification'), false);

  // The link works once.
  await tab.reload();
  await tab.waitForSelector('body[data-ready="true"]');
  await tab.click('#verify-form button[type="submit"]');
  assert.match(await settled(tab, 'verify-message'), /Invalid or expired token/);

  // Back from the link's page to the demo, with the same API.
  await tab.click('#verify-home');
  await tab.waitForSelector('body[data-ready="true"][data-route="home"]');
  await waitForState(tab, 'logged-in');
});

test('resend verification: a new link is mailed, the earlier one no longer works', { timeout: 90_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  const user = newUser('resend');
  await loginViaClient(page, user);
  const first = linkOf(await stack.mail.next(user.email, { subject: SUBJECT.verify }), '/verify-email');

  await page.waitForSelector('#user-verified[data-verified="false"]');
  await page.click('#resend-verification');
  assert.equal(await settled(page, 'verification-message'), 'Verification email sent');
  const second = linkOf(await stack.mail.next(user.email, { subject: SUBJECT.verify }), '/verify-email');
  assert.notEqual(second, first);

  const old = await openLink(browser.context, first, '/auth/email/verify');
  await old.click('#verify-form button[type="submit"]');
  assert.match(await settled(old, 'verify-message'), /Invalid or expired token/, 'only the newest link is valid');

  const fresh = await openLink(browser.context, second, '/auth/email/verify');
  await fresh.click('#verify-form button[type="submit"]');
  assert.equal(await settled(fresh, 'verify-message'), `Email verified: ${user.email}`);

  await page.click('#reload-user');
  await page.waitForSelector('#user-verified[data-verified="true"]');
  const again = await page.evaluate(() =>
    /** @type {any} */ (window).tokengate.resendVerification().then(
      () => 'sent',
      (/** @type {any} */ e) => `${e.status} ${e.message}`,
    ),
  );
  assert.equal(again, '400 Email is already verified');
});

test('forgot password → mail → the reset page → log in with the new password; every session ends', { timeout: 120_000 }, async (t) => {
  const user = newUser('forgot');
  const newPassword = `${user.password}-reset`;

  // A device that is logged in meanwhile: the reset ends its session.
  const phone = await openBrowser();
  t.after(() => phone.close());
  const phonePage = await openDemo(phone.context, stack.demoUrl());
  await loginViaClient(phonePage, user);

  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  await waitForState(page, 'logged-out');
  await page.fill('#login-form input[name="email"]', user.email);
  assert.equal(await page.isVisible('#forgot-form'), false);
  await page.click('#forgot-link');
  assert.equal(await page.isVisible('#forgot-form'), true);
  assert.equal(await page.inputValue('#forgot-form input[name="email"]'), user.email, 'prefilled from the login form');
  await page.click('#forgot-form button[type="submit"]');
  assert.equal(await settled(page, 'forgot-message'), FORGOT_ANSWER);

  // An address without an account gets the very same answer.
  assert.equal(
    await submit(page, 'forgot-form', { email: newUser('nobody').email }, 'forgot-message'),
    FORGOT_ANSWER,
  );

  const link = linkOf(await stack.mail.next(user.email, { subject: SUBJECT.reset }), '/reset-password');
  const scanned = await fetch(link);
  assert.equal(scanned.status, 200);
  assert.match(await scanned.text(), /id="reset-form"/);

  const api = watchApi(browser.context, stack.apiBase);
  const tab = await openLink(browser.context, link, '/auth/password/reset');
  assert.equal(await tab.isVisible('#reset-form'), true);
  assert.equal(await tab.isVisible('#auth-forms'), false);
  await tab.screenshot({ path: outputPath('account-reset-page.png'), fullPage: true });

  // Two different entries are caught in the page, before any request.
  assert.equal(
    await submit(tab, 'reset-form', { newPassword, confirmPassword: `${newPassword}x` }, 'reset-message'),
    'The two passwords differ.',
  );
  assert.equal(api.sent.filter((r) => r.path === '/auth/password/reset').length, 0);

  assert.equal(
    await submit(tab, 'reset-form', { newPassword, confirmPassword: newPassword }, 'reset-message'),
    'Password has been reset. Log in with your new password.',
  );
  assert.equal(api.responses('/auth/password/reset', 200).length, 1);
  await stack.mail.next(user.email, { subject: SUBJECT.changed });

  // Single use (the form stays disabled after a success: load the link again).
  assert.equal(await tab.isDisabled('#reset-form button[type="submit"]'), true);
  await tab.reload();
  await tab.waitForSelector('body[data-ready="true"]');
  assert.match(
    await submit(tab, 'reset-form', { newPassword: `${newPassword}2`, confirmPassword: `${newPassword}2` }, 'reset-message'),
    /Invalid or expired token/,
  );

  // To the login: the old password fails, the new one works.
  await tab.click('#reset-home');
  await tab.waitForSelector('body[data-ready="true"][data-route="home"]');
  await waitForState(tab, 'logged-out');
  assert.match(await submit(tab, 'login-form', { email: user.email, password: user.password }, 'login-message'), /Invalid email or password/);
  await tab.fill('#login-form input[name="email"]', user.email);
  await tab.fill('#login-form input[name="password"]', newPassword);
  await tab.click('#login-form button[type="submit"]');
  await waitForState(tab, 'logged-in');
  await tab.waitForFunction((email) => document.getElementById('user-email')?.textContent === email, user.email);
  // A reset proves the address: it is verified now.
  await tab.waitForSelector('#user-verified[data-verified="true"]');

  // The phone's session was revoked: its next refresh fails, it shows logged out.
  await waitForState(phonePage, 'logged-out');
  assert.match(await phonePage.textContent('#notice'), /session has ended/);
});

test('change password: this browser stays logged in, a second browser is logged out at its next refresh', { timeout: 120_000 }, async (t) => {
  const user = newUser('change');
  const newPassword = `${user.password}-new`;
  const laptop = await openBrowser();
  t.after(() => laptop.close());
  const phone = await openBrowser();
  t.after(() => phone.close());
  const laptopApi = watchApi(laptop.context, stack.apiBase);
  const phoneApi = watchApi(phone.context, stack.apiBase);

  // The laptop refreshes only on a 401, so that no proactive refresh races
  // the change (that race is the API suite's); the phone refreshes as usual.
  const page = await openDemo(laptop.context, stack.demoUrl({ proactive: '0' }));
  await loginViaClient(page, user);
  const other = await openDemo(phone.context, stack.demoUrl());
  await other.evaluate((u) => /** @type {any} */ (window).tokengate.login(u), { email: user.email, password: user.password });
  await waitForState(other, 'logged-in');
  await page.click('#reload-sessions');
  await page.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 2);

  // A wrong current password: refused, no refresh, no second try, still logged in.
  laptopApi.reset();
  assert.match(
    await submit(page, 'password-form', { currentPassword: 'not-the-password', newPassword }, 'password-message'),
    /Current password is incorrect/,
  );
  // (A refresh *before* it is fine: the session hint shows when the access
  // token is about to expire, and the client refreshes ahead of the call.)
  const order = laptopApi.sent.map((r) => r.path).filter((p) => p === '/auth/refresh' || p === '/auth/password/change');
  assert.deepEqual(order.slice(order.indexOf('/auth/password/change')), ['/auth/password/change'], 'no refresh, no second try after the 401');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'logged-in');

  // A refused new password names the field.
  assert.match(
    await submit(page, 'password-form', { currentPassword: user.password, newPassword: 'p'.repeat(73) }, 'password-message'),
    /newPassword: /,
  );

  const [before] = (await laptop.context.cookies(`${stack.apiBase}/auth/refresh`)).filter((c) => c.name === 'refreshToken');
  assert.equal(
    await submit(page, 'password-form', { currentPassword: user.password, newPassword }, 'password-message'),
    'Password changed. Every other device has been logged out.',
  );
  assert.equal(laptopApi.responses('/auth/password/change', 200).length, 1);
  const [rotated] = (await laptop.context.cookies(`${stack.apiBase}/auth/refresh`)).filter((c) => c.name === 'refreshToken');
  assert.ok(rotated && rotated.value !== before.value, 'this browser got a new refresh cookie');
  await page.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 1);
  assert.equal(await page.locator('#sessions tbody tr.current').count(), 1, 'only this browser\'s session is left');
  await stack.mail.next(user.email, { subject: SUBJECT.changed });

  // The phone keeps its access token until it expires; then its refresh is
  // refused and its page shows the logged-out state.
  await waitForState(other, 'logged-out');
  assert.ok(phoneApi.responses('/auth/refresh', 401).length >= 1, 'the phone\'s refresh was refused');
  assert.match(await other.textContent('#notice'), /session has ended/);

  // The laptop lives on across its own refreshes.
  laptopApi.reset();
  await sleep(ACCESS_TTL_MS + 1000);
  const status = await page.evaluate(() =>
    /** @type {any} */ (window).tokengate.apiFetch('/user/current-user').then((/** @type {Response} */ r) => r.status),
  );
  assert.equal(status, 200);
  assert.ok(laptopApi.responses('/auth/refresh', 200).length >= 1, 'the rotated session refreshes');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'logged-in');

  // The phone: the old password no longer works, the new one does.
  assert.match(await submit(other, 'login-form', { email: user.email, password: user.password }, 'login-message'), /Invalid email or password/);
  await other.fill('#login-form input[name="email"]', user.email);
  await other.fill('#login-form input[name="password"]', newPassword);
  await other.click('#login-form button[type="submit"]');
  await waitForState(other, 'logged-in');
});

test('the client tells an expired session from a wrong password on the password-checked endpoints', { timeout: 90_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  // No proactive refresh and no session hint: the access token expires
  // unnoticed, and only a 401 tells.
  const page = await openDemo(browser.context, stack.demoUrl({ proactive: '0', hint: '0' }));
  const user = newUser('expired');
  await loginViaClient(page, user);
  const api = watchApi(browser.context, stack.apiBase);
  /** @param {string} method @param {Record<string, string>} input */
  const call = (method, input) =>
    page.evaluate(
      ([m, i]) =>
        /** @type {any} */ (window).tokengate[m](i).then(
          () => 'ok',
          (/** @type {any} */ e) => `${e.status} ${e.message}`,
        ),
      /** @type {const} */ ([method, input]),
    );

  // Expired token + wrong password: one refresh, one retry, the password's
  // 401; three times (the client's limit of refreshes that "did not help"),
  // and the session lives on: a wrong password is no sign of a dead session.
  for (let i = 1; i <= 3; i++) {
    await sleep(ACCESS_TTL_MS + 1000);
    assert.equal(await call('changePassword', { currentPassword: 'wrong-password', newPassword: 'whatever-123' }), '401 Current password is incorrect');
    assert.deepEqual(api.responses('/auth/password/change').map((r) => r.status), Array(2 * i).fill(401));
    assert.equal(api.responses('/auth/refresh', 200).length, i);
  }
  assert.equal(await page.getAttribute('#status', 'data-state'), 'logged-in');

  // Fresh token + wrong password: exactly one request, no refresh.
  api.reset();
  assert.equal(await call('deleteAccount', { password: 'wrong-password' }), '401 Password is incorrect');
  assert.equal(await call('changeEmail', { password: 'wrong-password', newEmail: newUser('other').email }), '401 Password is incorrect');
  assert.deepEqual(api.sent.map((r) => `${r.method} ${r.path}`), ['DELETE /user', 'POST /auth/email/change']);
  assert.equal(await page.getAttribute('#status', 'data-state'), 'logged-in');

  // Expired token + right password: refreshed and done.
  api.reset();
  await sleep(ACCESS_TTL_MS + 1000);
  assert.equal(await call('changePassword', { currentPassword: user.password, newPassword: `${user.password}-2` }), 'ok');
  assert.deepEqual(api.responses('/auth/password/change').map((r) => r.status), [401, 200]);
  assert.equal(await page.getAttribute('#status', 'data-state'), 'logged-in');
});

test('change email: confirmed through the link sent to the new address; the old one gets a notice', { timeout: 90_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  const user = newUser('email');
  const newEmail = newUser('email-new').email;
  await loginViaClient(page, user);
  await page.waitForFunction((email) => document.getElementById('user-email')?.textContent === email, user.email);

  assert.match(await submit(page, 'email-form', { newEmail, password: 'not-the-password' }, 'email-message'), /Password is incorrect/);
  assert.equal(
    await submit(page, 'email-form', { newEmail, password: user.password }, 'email-message'),
    'Check your new address for a confirmation link',
  );
  await stack.mail.next(user.email, { subject: SUBJECT.noticeOld });
  const link = linkOf(await stack.mail.next(newEmail, { subject: SUBJECT.confirmNew }), '/verify-email');

  // Nothing changes until the link is used.
  await page.click('#reload-user');
  await sleep(300);
  assert.equal(await page.textContent('#user-email'), user.email);

  const tab = await openLink(browser.context, link, '/auth/email/verify');
  await tab.click('#verify-form button[type="submit"]');
  assert.equal(await settled(tab, 'verify-message'), `Email verified: ${newEmail}`);

  await page.click('#reload-user');
  await page.waitForFunction((email) => document.getElementById('user-email')?.textContent === email, newEmail);
  await page.waitForSelector('#user-verified[data-verified="true"]');

  // Log in again: the old address is gone, the new one works.
  await page.click('#logout');
  await waitForState(page, 'logged-out');
  assert.match(await submit(page, 'login-form', { email: user.email, password: user.password }, 'login-message'), /Invalid email or password/);
  await page.fill('#login-form input[name="email"]', newEmail);
  await page.fill('#login-form input[name="password"]', user.password);
  await page.click('#login-form button[type="submit"]');
  await waitForState(page, 'logged-in');
});

test('delete account: logged out in every tab, cookies and session gone, the email can register again', { timeout: 90_000 }, async (t) => {
  const browser = await openBrowser();
  t.after(() => browser.close());
  const page = await openDemo(browser.context, stack.demoUrl());
  const user = newUser('delete');
  await loginViaClient(page, user);
  await page.waitForFunction(() => (document.getElementById('user-id')?.textContent ?? '') !== '');
  const oldId = await page.textContent('#user-id');
  // Tab B does not refresh on its own: a proactive refresh that hit the
  // deleted session before the deleting tab's message arrived would (rightly)
  // show "session ended" instead; here it learns from that message alone.
  const tabB = await openDemo(browser.context, stack.demoUrl({ proactive: '0' }));
  await waitForState(tabB, 'logged-in');
  const [oldRefresh] = (await browser.context.cookies(`${stack.apiBase}/auth/refresh`)).filter((c) => c.name === 'refreshToken');
  assert.ok(oldRefresh);

  assert.match(await submit(page, 'delete-form', { password: 'not-the-password' }, 'delete-message'), /Password is incorrect/);
  assert.equal(await page.getAttribute('#status', 'data-state'), 'logged-in');

  await page.fill('#delete-form input[name="password"]', user.password);
  await page.click('#delete-form button[type="submit"]');
  await waitForState(page, 'logged-out');
  assert.equal(await page.textContent('#notice'), 'Your account has been deleted.');
  await waitForState(tabB, 'logged-out');
  assert.equal(await tabB.textContent('#notice'), 'Your account was deleted in another tab.', `tab B's events: ${await tabB.textContent('#events')}`);
  assert.deepEqual((await browser.context.cookies(`${stack.apiBase}/auth/refresh`)).map((c) => c.name), [], 'both cookies cleared');

  // The session is gone on the server too.
  await browser.context.addCookies([oldRefresh]);
  const refresh = await page.evaluate(
    (base) => fetch(`${base}/auth/refresh`, { method: 'POST', credentials: 'include' }).then((r) => r.status),
    stack.apiBase,
  );
  assert.equal(refresh, 401);
  await browser.context.clearCookies();

  // The same email registers again: a new account.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await waitForState(page, 'logged-out');
  assert.match(await submit(page, 'login-form', { email: user.email, password: user.password }, 'login-message'), /Invalid email or password/);
  assert.match(
    await submit(page, 'register-form', { name: user.name, email: user.email, password: user.password }, 'register-message'),
    /Account created/,
  );
  await page.fill('#login-form input[name="password"]', user.password);
  await page.click('#login-form button[type="submit"]');
  await waitForState(page, 'logged-in');
  await page.waitForFunction((id) => !['', id].includes(document.getElementById('user-id')?.textContent ?? ''), oldId);
  assert.equal(await page.textContent('#user-verified'), 'no', 'a new, unverified account');
});
