// @ts-check
// The demo SPA: plain DOM + the tokengate client, no build step.
import { createClient, ApiError } from './tokengate-client.js';
import { config } from './config.js';

const params = new URLSearchParams(location.search);
const apiBaseUrl = pickApiBase(params.get('api')) ?? config.apiBaseUrl;

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
};

$('api-base').textContent = apiBaseUrl;

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
  $('auth-forms').hidden = client.state !== 'logged-out';
  $('account').hidden = client.state !== 'logged-in';

  const user = client.user;
  $('user-name').textContent = user?.name ?? '';
  $('user-email').textContent = user?.email ?? '';
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
  notice(e.detail.source === 'remote' ? 'You were logged out in another tab.' : 'You are logged out.');
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
    say('register-message', `Account created for ${user.email}. Log in now.`, true);
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
    say('login-message', describe(err));
  }
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

render();
if (client.siteMismatch) {
  notice(client.siteMismatch, 'warn');
}
// The session hint tells whether there is a session: with none, restore()
// sends no request at all; else it asks the API who we are.
client
  .restore()
  .then((user) => (user ? Promise.all([loadReport(), loadSessions()]) : undefined))
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
