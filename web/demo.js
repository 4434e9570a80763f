// @ts-check
// The demo SPA: plain DOM + the tokengate client, no build step.
import { createClient, ApiError } from './tokengate-client.js';
import { config } from './config.js';

const params = new URLSearchParams(location.search);
const apiBaseUrl = pickApiBase(params.get('api')) ?? config.apiBaseUrl;
/**
 * Which view: the links in the API's mails open `/reset-password?token=…`
 * and `/verify-email?token=…` (scripts/serve-web.mjs serves this page
 * there). Those views never send the token on load, only when the user
 * submits: mail scanners open links too, and a token works once.
 * @type {'home'|'reset'|'verify'}
 */
const route = location.pathname === '/reset-password' ? 'reset' : location.pathname === '/verify-email' ? 'verify' : 'home';
const linkToken = params.get('token') ?? '';
document.body.dataset.route = route;

const client = createClient({
  baseUrl: apiBaseUrl,
  proactiveRefresh: params.get('proactive') !== '0',
  // ?hint=0: ignore the session hint cookie (the behaviour of an SPA that
  // cannot see it), so every state is learnt from a request.
  sessionHint: params.get('hint') === '0' ? false : 'auto',
  // ?dedupe=0: every GET its own request, even identical concurrent ones.
  dedupeGets: params.get('dedupe') !== '0',
});
// Handy in devtools, and what the end-to-end tests drive.
/** @type {any} */ (window).tokengate = client;

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const forms = {
  register: /** @type {HTMLFormElement} */ ($('register-form')),
  login: /** @type {HTMLFormElement} */ ($('login-form')),
  report: /** @type {HTMLFormElement} */ ($('report-form')),
  forgot: /** @type {HTMLFormElement} */ ($('forgot-form')),
  reset: /** @type {HTMLFormElement} */ ($('reset-form')),
  verify: /** @type {HTMLFormElement} */ ($('verify-form')),
  password: /** @type {HTMLFormElement} */ ($('password-form')),
  email: /** @type {HTMLFormElement} */ ($('email-form')),
  remove: /** @type {HTMLFormElement} */ ($('delete-form')),
};

$('api-base').textContent = apiBaseUrl;
// The way back from a mail link's view keeps ?api= and the other options.
{
  const home = new URLSearchParams(params);
  home.delete('token');
  const query = home.toString();
  const href = query ? `/?${query}` : '/';
  for (const id of ['reset-home', 'verify-home']) {
    /** @type {HTMLAnchorElement} */ ($(id)).href = href;
  }
}

// ------------------------------------------------------------- rendering

function render() {
  const status = $('status');
  status.dataset.state = client.state;
  if (client.state === 'logged-in') {
    status.textContent = client.user ? `Logged in as ${client.user.name}` : 'Logged in';
  } else if (client.state === 'logged-out') {
    status.textContent = 'Logged out';
  } else {
    status.textContent = 'Checking session…';
  }
  $('auth-forms').hidden = route !== 'home' || client.state !== 'logged-out';
  $('account').hidden = route !== 'home' || client.state !== 'logged-in';
  $('reset-view').hidden = route !== 'reset';
  $('verify-view').hidden = route !== 'verify';

  const user = client.user;
  $('user-name').textContent = user?.name ?? '';
  $('user-email').textContent = user?.email ?? '';
  const verified = $('user-verified');
  verified.textContent = user ? (user.emailVerified ? 'yes' : 'no') : '';
  verified.dataset.verified = user ? String(user.emailVerified === true) : '';
  $('resend-verification').hidden = !user || user.emailVerified === true;
  $('user-id').textContent = user?._id ?? '';
  $('user-created').textContent = user ? formatTime(user.createdAt) : '';
  $('expires-at').textContent = client.expiresAt ? formatTime(client.expiresAt.toISOString()) : 'unknown';
}

/** @param {string} text @param {'info'|'warn'} [kind] */
function notice(text, kind = 'info') {
  const el = $('notice');
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
}

/** @param {string} id @param {string} text @param {boolean} [ok] */
function say(id, text, ok = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle('ok', ok);
}

/** @param {string} text */
function logEvent(text) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  li.append(time, ` ${text}`);
  const list = $('events');
  list.prepend(li);
  while (list.children.length > 30) {
    list.lastElementChild?.remove();
  }
}

/** @param {unknown} err */
function describe(err) {
  if (err instanceof ApiError) {
    const fields = err.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
    return [err.message, ...fields].join(' — ');
  }
  return err instanceof Error ? `Network error: ${err.message}` : String(err);
}

/** @param {string} iso */
function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// ------------------------------------------------------------- data

async function loadAccount() {
  await Promise.all([loadUser(), loadReport(), loadSessions()]);
}

async function loadUser() {
  try {
    await client.currentUser();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      notice(describe(err), 'warn');
    }
  }
  render();
}

async function loadReport() {
  try {
    const setting = await client.reportSetting();
    const freq = /** @type {HTMLSelectElement} */ (forms.report.elements.namedItem('frequency'));
    const enabled = /** @type {HTMLInputElement} */ (forms.report.elements.namedItem('isEnabled'));
    freq.value = setting.frequency;
    enabled.checked = setting.isEnabled;
    say('report-message', '');
  } catch (err) {
    say('report-message', describe(err));
  }
}

async function loadSessions() {
  const tbody = /** @type {HTMLTableSectionElement} */ ($('sessions').querySelector('tbody'));
  try {
    const sessions = await client.sessions();
    tbody.replaceChildren(
      ...sessions.map((s) => {
        const tr = document.createElement('tr');
        tr.dataset.sessionId = s.id;
        if (s.current) {
          tr.classList.add('current');
        }
        for (const text of [formatTime(s.createdAt), formatTime(s.lastUsedAt), shortAgent(s.userAgent), s.ip ?? '']) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        const td = document.createElement('td');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'revoke secondary';
        button.dataset.id = s.id;
        button.textContent = s.current ? 'Revoke (this browser)' : 'Revoke';
        td.append(button);
        tr.append(td);
        return tr;
      }),
    );
    say('sessions-message', `${sessions.length} live session${sessions.length === 1 ? '' : 's'}`, true);
  } catch (err) {
    tbody.replaceChildren();
    say('sessions-message', describe(err));
  }
}

/** @param {string|null} ua */
function shortAgent(ua) {
  if (!ua) {
    return 'unknown';
  }
  const m = /(HeadlessChrome|Chrome|Firefox|Safari|Edg)\/[\d.]+/.exec(ua);
  return m ? m[0] : ua.slice(0, 40);
}

// ------------------------------------------------------------- events

client.addEventListener('statechange', render);
client.addEventListener('login', (e) => {
  logEvent(`login (${e.detail.source})`);
  notice('');
  if (e.detail.source === 'local') {
    checkCookies();
  }
  loadAccount();
});
client.addEventListener('refresh', (e) => {
  logEvent(`token refreshed (${e.detail.source})`);
  render();
});
client.addEventListener('logout', (e) => {
  logEvent(`logout: ${e.detail.reason} (${e.detail.source})`);
  const remote = e.detail.source === 'remote';
  if (e.detail.reason === 'account-deleted') {
    notice(remote ? 'Your account was deleted in another tab.' : 'Your account has been deleted.');
  } else if (e.detail.reason === 'password-reset') {
    notice('Your password was reset: log in with the new one.');
  } else {
    notice(remote ? 'You were logged out in another tab.' : 'You are logged out.');
  }
});
client.addEventListener('session-expired', (e) => {
  logEvent(`session expired: ${e.detail.reason} (${e.detail.source})`);
  notice('Your session has ended. Please log in again.', 'warn');
});

/**
 * Asks the API which cookies arrived and shows it: after a login, missing
 * cookies mean the browser drops them (page and API on different sites).
 */
async function checkCookies() {
  const el = $('cookie-check');
  try {
    const check = await client.checkCookies();
    const ok = check.accessCookie && check.refreshCookie;
    el.dataset.ok = String(ok);
    el.textContent = ok
      ? 'Cookie check: the auth cookies reach the API.'
      : `Cookie check: the API did not receive ${[
          !check.accessCookie && check.names.access,
          !check.refreshCookie && check.names.refresh,
        ]
          .filter(Boolean)
          .join(' and ')}. ${client.siteMismatch ?? 'The browser drops the cookies (Secure cookies over http? blocked third-party cookies?).'}`;
  } catch (err) {
    el.dataset.ok = 'false';
    el.textContent = `Cookie check failed: ${describe(err)}`;
  }
  el.hidden = false;
}

forms.register.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const data = new FormData(forms.register);
  say('register-message', 'Registering…');
  try {
    const user = await client.register({
      name: String(data.get('name') ?? ''),
      email: String(data.get('email') ?? ''),
      password: String(data.get('password') ?? ''),
    });
    forms.register.reset();
    /** @type {HTMLInputElement} */ (forms.login.elements.namedItem('email')).value = user.email;
    say('register-message', `Account created for ${user.email}. We sent a link to confirm the address. Log in now.`, true);
  } catch (err) {
    say('register-message', describe(err));
  }
});

forms.login.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const data = new FormData(forms.login);
  say('login-message', 'Logging in…');
  try {
    await client.login({ email: String(data.get('email') ?? ''), password: String(data.get('password') ?? '') });
    forms.login.reset();
    say('login-message', '');
  } catch (err) {
    const unverified = err instanceof ApiError && err.status === 403 && /not verified/i.test(err.message);
    say('login-message', unverified ? `${describe(err)}: open the link in the verification email first.` : describe(err));
  }
});

// ------------------------------------------------------ account lifecycle

/** @param {HTMLFormElement} form @param {string} name */
const field = (form, name) => String(new FormData(form).get(name) ?? '');

/**
 * Runs a form's action with its submit button disabled meanwhile.
 * @param {HTMLFormElement} form
 * @param {() => Promise<void>} action
 */
async function busy(form, action) {
  const button = form.querySelector('button[type="submit"]');
  if (button instanceof HTMLButtonElement) {
    button.disabled = true;
  }
  try {
    await action();
  } finally {
    if (button instanceof HTMLButtonElement && form.dataset.done !== 'true') {
      button.disabled = false;
    }
  }
}

$('forgot-link').addEventListener('click', () => {
  forms.forgot.hidden = false;
  const email = /** @type {HTMLInputElement} */ (forms.forgot.elements.namedItem('email'));
  email.value = field(forms.login, 'email');
  say('forgot-message', '');
  email.focus();
});
$('forgot-cancel').addEventListener('click', () => {
  forms.forgot.hidden = true;
});
forms.forgot.addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy(forms.forgot, async () => {
    say('forgot-message', 'Sending…');
    try {
      // The same answer whether or not the address has an account.
      const { message } = await client.forgotPassword({ email: field(forms.forgot, 'email') });
      say('forgot-message', message, true);
    } catch (err) {
      say('forgot-message', describe(err));
    }
  });
});

forms.reset.addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy(forms.reset, async () => {
    const newPassword = field(forms.reset, 'newPassword');
    if (newPassword !== field(forms.reset, 'confirmPassword')) {
      say('reset-message', 'The two passwords differ.');
      return;
    }
    say('reset-message', 'Saving…');
    try {
      const { message } = await client.resetPassword({ token: linkToken, newPassword });
      forms.reset.reset();
      forms.reset.dataset.done = 'true';
      say('reset-message', `${message}. Log in with your new password.`, true);
    } catch (err) {
      say('reset-message', describe(err));
    }
  });
});

forms.verify.addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy(forms.verify, async () => {
    say('verify-message', 'Verifying…');
    try {
      const { user } = await client.verifyEmail({ token: linkToken });
      forms.verify.dataset.done = 'true';
      say('verify-message', `Email verified: ${user.email}`, true);
    } catch (err) {
      say('verify-message', describe(err));
    }
  });
});

$('resend-verification').addEventListener('click', async () => {
  const button = /** @type {HTMLButtonElement} */ ($('resend-verification'));
  button.disabled = true;
  say('verification-message', 'Sending…');
  try {
    const { message } = await client.resendVerification();
    say('verification-message', message, true);
  } catch (err) {
    say('verification-message', describe(err));
  } finally {
    button.disabled = false;
  }
});

forms.password.addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy(forms.password, async () => {
    say('password-message', 'Changing…');
    try {
      await client.changePassword({
        currentPassword: field(forms.password, 'currentPassword'),
        newPassword: field(forms.password, 'newPassword'),
      });
      forms.password.reset();
      say('password-message', 'Password changed. Every other device has been logged out.', true);
      await loadSessions();
    } catch (err) {
      say('password-message', describe(err));
    }
  });
});

forms.email.addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy(forms.email, async () => {
    say('email-message', 'Sending…');
    try {
      const { message } = await client.changeEmail({
        password: field(forms.email, 'password'),
        newEmail: field(forms.email, 'newEmail'),
      });
      forms.email.reset();
      say('email-message', message, true);
    } catch (err) {
      say('email-message', describe(err));
    }
  });
});

forms.remove.addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy(forms.remove, async () => {
    say('delete-message', 'Deleting…');
    try {
      await client.deleteAccount({ password: field(forms.remove, 'password') });
      forms.remove.reset();
      say('delete-message', '');
    } catch (err) {
      say('delete-message', describe(err));
    }
  });
});

forms.report.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const freq = /** @type {HTMLSelectElement} */ (forms.report.elements.namedItem('frequency'));
  const enabled = /** @type {HTMLInputElement} */ (forms.report.elements.namedItem('isEnabled'));
  try {
    const setting = await client.updateReportSetting({
      frequency: /** @type {any} */ (freq.value),
      isEnabled: enabled.checked,
    });
    say('report-message', `Saved: ${setting.frequency.toLowerCase()}, ${setting.isEnabled ? 'on' : 'off'}`, true);
  } catch (err) {
    say('report-message', describe(err));
  }
});

$('sessions').addEventListener('click', async (ev) => {
  const button = /** @type {HTMLElement} */ (ev.target).closest('button.revoke');
  if (!(button instanceof HTMLButtonElement) || !button.dataset.id) {
    return;
  }
  button.disabled = true;
  try {
    await client.revokeSession(button.dataset.id);
    if (client.state === 'logged-in') {
      await loadSessions();
    }
  } catch (err) {
    say('sessions-message', describe(err));
    button.disabled = false;
  }
});

$('reload-user').addEventListener('click', () => loadUser());
$('check-cookies').addEventListener('click', () => checkCookies());
$('reload-sessions').addEventListener('click', () => loadSessions());
$('refresh-now').addEventListener('click', async () => {
  const alive = await client.refresh();
  if (!alive) {
    notice('Could not refresh the session.', 'warn');
  }
});
$('logout').addEventListener('click', async () => {
  try {
    await client.logout();
  } catch (err) {
    notice(`Logout failed: ${describe(err)}`, 'warn');
  }
});
$('logout-all').addEventListener('click', async () => {
  try {
    await client.logoutAll();
  } catch (err) {
    notice(`Logout everywhere failed: ${describe(err)}`, 'warn');
  }
});

// ------------------------------------------------------------- start

/** @param {string|null} value */
function pickApiBase(value) {
  if (!value) {
    return null;
  }
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href.replace(/\/+$/, '') : null;
  } catch {
    return null;
  }
}

if (route !== 'home' && !linkToken) {
  const form = route === 'reset' ? forms.reset : forms.verify;
  say(`${route}-message`, 'This link has no token: open the link from the email again.');
  for (const button of form.querySelectorAll('button')) {
    button.disabled = true;
  }
  form.dataset.done = 'true';
}

render();
if (client.siteMismatch) {
  notice(client.siteMismatch, 'warn');
}
// The session hint tells whether there is a session: with none, restore()
// sends no request at all; else it asks the API who we are.
client
  .restore()
  .then((user) => (user && route === 'home' ? Promise.all([loadReport(), loadSessions()]) : undefined))
  .catch((err) => {
    if (!(err instanceof ApiError && err.status === 401)) {
      notice(describe(err), 'warn');
      logEvent(`start-up check failed: ${describe(err)}`);
    }
  })
  .finally(() => {
    if (client.state === 'unknown') {
      // No answer (API down?): show the forms rather than "checking" forever.
      render();
      $('auth-forms').hidden = false;
    }
    document.body.dataset.ready = 'true';
  });
