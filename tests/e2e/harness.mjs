// Test harness: starts the real tokengate binary, the demo's static server, a
// page on a not-allowed origin and a real SMTP server (tests/smtp/sink.mjs)
// on free ports, and headless Chromium (Debian's, through playwright-core: no
// browser download). Everything started here is stopped by `stop()`/`close()`
// and, as a last resort, when the process exits.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createStaticServer } from '../../scripts/serve-web.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUTPUT = path.join(REPO, 'tests', 'e2e', 'output');
export const BIN = process.env.TOKENGATE_BIN ?? path.join(REPO, 'target', 'debug', 'tokengate');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Access-token lifetime the API runs with here: short, so tests can watch it expire. */
export const ACCESS_TTL_MS = 3000;
/** The SMTP server the API sends its mail to; `npm ci` in tests/smtp installs it (scripts/e2e.sh does). */
export const SMTP_SINK = path.join(REPO, 'tests', 'smtp', 'sink.mjs');
/** The sender the API runs with here. */
export const MAIL_FROM = 'tokengate <no-reply@tokengate.test>';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Children still running, killed if the test process exits without stopping them. */
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
});

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port nobody listens on right now (the binary cannot take port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @param {http.Server} server
 * @returns {Promise<number>} the port
 */
function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(/** @type {net.AddressInfo} */ (server.address()).port));
  });
}

/** @param {http.Server} server */
function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve(undefined));
    server.closeAllConnections();
  });
}

/**
 * A page on an origin the API does not allow (same site `localhost`, another
 * port): what an attacker's page in another local app would be.
 */
function createEvilServer() {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>not the SPA</title></head>
<body><h1>Some other site on localhost</h1></body></html>`;
  return http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : html);
  });
}

/** @param {string} file */
function tail(file, lines = 60) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts the API binary and waits for /health/ready.
 * @param {{ name: string, spaOrigin: string, env?: Record<string, string> }} opts
 */
async function startApi({ name, spaOrigin, env = {} }) {
  if (!fs.existsSync(BIN)) {
    throw new Error(`tokengate binary not found at ${BIN}: run \`cargo build --bin tokengate\` first (scripts/e2e.sh does)`);
  }
  fs.mkdirSync(OUTPUT, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokengate-e2e-'));
  let lastError;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const log = path.join(OUTPUT, `api-${name}.log`);
    const out = fs.openSync(log, 'w');
    const child = spawn(BIN, [], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? dir,
        APP_ENV: 'local',
        APP_CONFIG_DIR: path.join(REPO, 'config'),
        HOST: '127.0.0.1',
        PORT: String(port),
        SQLITE_PATH: path.join(dir, `tokengate-${attempt}.sqlite`),
        FRONTEND_ORIGIN: spaOrigin,
        JWT_EXPIRES_IN: `${ACCESS_TTL_MS / 1000}s`,
        JWT_REFRESH_EXPIRES_IN: '1h',
        REFRESH_GRACE_PERIOD: '10s',
        BCRYPT_COST: '4',
        RATE_LIMIT_PER_IP: '10000',
        RATE_LIMIT_LOGIN_FAILURES: '1000',
        // The per-email ceiling must not be below the failure limit where the
        // service has one; a service without it ignores the variable.
        RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL: '1000',
        RUST_BACKTRACE: '1',
        NO_COLOR: '1',
        ...env,
      },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    live.add(child);
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.once('exit', () => live.delete(child));

    const ready = await waitReady(`http://127.0.0.1:${port}/health/ready`, exited, 30_000);
    if (ready === true) {
      return {
        port,
        log,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(timer);
          }
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    await exited;
    lastError = `${ready}\n--- last lines of ${log} ---\n${tail(log)}`;
    if (!/address already in use|Address in use|EADDRINUSE/i.test(tail(log))) {
      break; // not a port race: do not hide the failure behind retries
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error(`the tokengate API did not become ready: ${lastError}`);
}

/**
 * @param {string} url
 * @param {Promise<unknown>} exited
 * @param {number} timeoutMs
 * @returns {Promise<true|string>}
 */
async function waitReady(url, exited, timeoutMs) {
  let gone = null;
  exited.then((how) => {
    gone = how;
  });
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (gone) {
      return `the process exited early (${JSON.stringify(gone)})`;
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) {
        return true;
      }
      last = `GET /health/ready answered ${res.status}`;
    } catch (err) {
      last = String(/** @type {any} */ (err)?.cause?.code ?? err);
    }
    await sleep(100);
  }
  return `not ready after ${timeoutMs} ms (${last})`;
}

/**
 * @typedef {Object} Mail  one message as the SMTP server received it (see tests/smtp/sink.mjs)
 * @property {number} seq
 * @property {{from: string|null, to: string[]}} envelope
 * @property {string|null} from
 * @property {string[]} to
 * @property {string|null} subject
 * @property {string|null} text
 * @property {string|null} html
 */

/**
 * Starts the SMTP server (tests/smtp/sink.mjs) on a free loopback port; it
 * writes each message it receives as a JSON file into output/mail-<name>/.
 * @param {string} name
 */
export async function startMailSink(name) {
  if (!fs.existsSync(path.join(REPO, 'tests', 'smtp', 'node_modules', 'smtp-server'))) {
    throw new Error('the SMTP server for the tests is not installed: run `npm ci` in tests/smtp (scripts/e2e.sh does)');
  }
  fs.mkdirSync(OUTPUT, { recursive: true });
  const dir = path.join(OUTPUT, `mail-${name}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const log = path.join(OUTPUT, `smtp-${name}.log`);
  const err = fs.openSync(log, 'w');
  // stdin stays open: the sink stops when it closes, i.e. with this process.
  const child = spawn(process.execPath, [SMTP_SINK, '--dir', dir], { stdio: ['pipe', 'pipe', err] });
  fs.closeSync(err);
  live.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('exit', () => live.delete(child));
  /** @type {number} */
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the SMTP server did not start within 15 s\n${tail(log)}`)), 15_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line).port);
        } catch {
          reject(new Error(`the SMTP server printed ${JSON.stringify(line)}, not {"port": n}`));
        }
      }
    });
    exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`the SMTP server exited early (${JSON.stringify(how)})\n${tail(log)}`));
    });
  });
  return {
    port,
    mailbox: createMailbox(dir),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Reads the messages the SMTP server wrote into `dir`. `next` hands out each
 * message once, oldest first.
 * @param {string} dir
 */
function createMailbox(dir) {
  /** @type {Map<string, Mail>} */
  const cache = new Map();
  /** seq of the messages `next` handed out */
  const taken = new Set();
  /** @returns {Mail[]} every message so far, oldest first */
  function all() {
    let names = [];
    try {
      names = fs.readdirSync(dir).filter((f) => /^\d+\.json$/.test(f)).sort();
    } catch {
      return []; // nothing delivered yet
    }
    for (const f of names) {
      if (!cache.has(f)) {
        cache.set(f, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))); // written whole, then renamed
      }
    }
    return names.map((f) => /** @type {Mail} */ (cache.get(f)));
  }
  /** @param {Mail} m @param {string} address */
  const addressedTo = (m, address) => m.envelope.to.some((t) => t.toLowerCase() === address.toLowerCase());
  return {
    all,
    /**
     * Waits (polling every 100 ms, at most `timeoutMs`) for the oldest message
     * to `to` not handed out before, with this exact subject if one is given
     * (others are left for later calls). Throws, listing what did arrive, when
     * none comes in time.
     * @param {string} to
     * @param {{subject?: string, timeoutMs?: number}} [opts]
     * @returns {Promise<Mail>}
     */
    async next(to, { subject, timeoutMs = 15_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = all().find(
          (m) => !taken.has(m.seq) && addressedTo(m, to) && (subject === undefined || m.subject === subject),
        );
        if (found) {
          taken.add(found.seq);
          return found;
        }
        if (Date.now() >= deadline) {
          const seen = all().map((m) => `#${m.seq} to ${m.envelope.to.join(', ')}: ${JSON.stringify(m.subject)}${taken.has(m.seq) ? ' (taken)' : ''}`);
          throw new Error(
            `no ${subject === undefined ? 'message' : JSON.stringify(subject)} to ${to} within ${timeoutMs} ms; ` +
              `the SMTP server got${seen.length ? `:\n  ${seen.join('\n  ')}` : ' nothing'}`,
          );
        }
        await sleep(100);
      }
    },
  };
}

/**
 * The link to `pathname` (e.g. `/reset-password`) in a message's text body,
 * where it must stand on a line of its own; throws unless there is exactly one.
 * @param {Mail} mail
 * @param {string} pathname
 * @returns {string}
 */
export function mailLink(mail, pathname) {
  const links = (mail.text ?? '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => /^https?:\/\/\S+$/.test(line) && new URL(line).pathname === pathname);
  if (links.length !== 1) {
    throw new Error(`expected one ${pathname} link on a line of its own in ${JSON.stringify(mail.subject)}, found ${links.length}:\n${mail.text}`);
  }
  return links[0];
}

/**
 * The whole stack for one test file: the static server with the demo (the SPA
 * origin, the only one the API allows; its config.js names this API, so the
 * links in the API's mails work as they are), a not-allowed page on another
 * localhost port, the SMTP server the API mails to, and the API.
 * @param {string} name  used for the API's log file under output/
 * @param {{ env?: Record<string, string> }} [opts]
 */
export async function startStack(name, opts = {}) {
  /** @type {string|null} */
  let apiBase = null;
  const web = createStaticServer({ root: path.join(REPO, 'web'), apiBaseUrl: () => apiBase });
  const evil = createEvilServer();
  /** @type {Awaited<ReturnType<typeof startApi>>|null} */
  let api = null;
  /** @type {Awaited<ReturnType<typeof startMailSink>>|null} */
  let smtp = null;
  try {
    const spaPort = await listen(web);
    const evilPort = await listen(evil);
    const spaOrigin = `http://localhost:${spaPort}`;
    smtp = await startMailSink(name);
    api = await startApi({
      name,
      spaOrigin,
      env: {
        MAIL_TRANSPORT: 'smtp',
        SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
        MAIL_FROM,
        FRONTEND_URL: spaOrigin,
        ...opts.env,
      },
    });
    apiBase = `http://localhost:${api.port}/api`;
    const apiLog = api.log;
    const stopApi = api.stop;
    const stopSmtp = smtp.stop;
    return {
      apiBase,
      apiOrigin: `http://localhost:${api.port}`,
      spaOrigin,
      evilOrigin: `http://localhost:${evilPort}`,
      apiLog,
      /** The mail the API sent, as the SMTP server received it. */
      mail: smtp.mailbox,
      /**
       * The demo page's URL, pointed at this API.
       * @param {Record<string, string>} [params]
       */
      demoUrl(params = {}) {
        return `${spaOrigin}/?${new URLSearchParams({ api: apiBase, ...params })}`;
      },
      async stop() {
        await Promise.allSettled([stopApi(), closeServer(web), closeServer(evil)]);
        await stopSmtp(); // after the API: nothing is sent any more
      },
    };
  } catch (err) {
    await Promise.allSettled([api?.stop(), closeServer(web), closeServer(evil)]);
    await smtp?.stop();
    throw err;
  }
}

/**
 * One browser "device": headless Chromium with a fresh profile directory.
 * Pages opened in its context share cookies, storage, BroadcastChannel and
 * Web Locks, like tabs of one browser.
 */
export async function openBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; scripts/e2e.sh does) or set CHROMIUM_PATH`,
    );
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tokengate-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 900 },
      timeout: 60_000,
    });
  } catch (err) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw new Error(`Chromium at ${CHROMIUM} could not be started: ${/** @type {Error} */ (err).message}`);
  }
  context.setDefaultTimeout(15_000);
  // The persistent context opens one blank tab; tests open their own.
  for (const p of context.pages()) {
    await p.close();
  }
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

let userCounter = 0;
/** A fresh user for one test. */
export function newUser(label = 'user') {
  userCounter += 1;
  const id = `${Date.now().toString(36)}${process.pid.toString(36)}${userCounter}`;
  return { name: `E2E ${label} ${userCounter}`, email: `e2e-${label}-${id}@example.com`, password: `pw-${id}-secret` };
}

/**
 * Opens the demo page in `context` and waits until it has checked the session.
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} url
 */
export async function openDemo(context, url) {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/**
 * Registers and logs in through the client of an open demo page (the UI path
 * has its own test), resolving when the page shows the logged-in state.
 * @param {import('playwright-core').Page} page
 * @param {{name: string, email: string, password: string}} user
 */
export async function loginViaClient(page, user) {
  await page.evaluate(async (u) => {
    const c = /** @type {any} */ (window).tokengate;
    await c.register(u);
    await c.login({ email: u.email, password: u.password });
  }, user);
  await page.waitForSelector('#status[data-state="logged-in"]');
}

/** @param {import('playwright-core').Page} page @param {'logged-in'|'logged-out'|'unknown'} state */
export function waitForState(page, state) {
  return page.waitForSelector(`#status[data-state="${state}"]`);
}

/**
 * Records every response of the API seen by a page or a context.
 * @param {import('playwright-core').Page|import('playwright-core').BrowserContext} target
 * @param {string} apiBase
 */
export function watchApi(target, apiBase) {
  /** @type {{method: string, path: string, status: number, page: unknown}[]} */
  const seen = [];
  /** @type {{method: string, path: string, page: unknown}[]} */
  const sent = [];
  target.on('request', (req) => {
    if (req.url().startsWith(apiBase)) {
      sent.push({ method: req.method(), path: req.url().slice(apiBase.length), page: req.frame()?.page() });
    }
  });
  target.on('response', (res) => {
    const req = res.request();
    if (req.url().startsWith(apiBase)) {
      seen.push({ method: req.method(), path: req.url().slice(apiBase.length), status: res.status(), page: req.frame()?.page() });
    }
  });
  return {
    sent,
    seen,
    reset() {
      sent.length = 0;
      seen.length = 0;
    },
    /** POSTs to /auth/refresh sent so far. */
    refreshes() {
      return sent.filter((r) => r.method === 'POST' && r.path === '/auth/refresh');
    },
    /** @param {string} p @param {number} [status] */
    responses(p, status) {
      return seen.filter((r) => r.path === p && (status === undefined || r.status === status));
    },
  };
}

/** Makes sure output/ exists and returns a path in it. @param {string} file */
export function outputPath(file) {
  fs.mkdirSync(OUTPUT, { recursive: true });
  return path.join(OUTPUT, file);
}
