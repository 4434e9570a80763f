// Test harness: starts the real tokengate binary, the demo's static server and
// a page on a not-allowed origin on free ports, and headless Chromium (Debian's,
// through playwright-core: no browser download). Everything started here is
// stopped by `stop()`/`close()` and, as a last resort, when the process exits.
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
 * The whole stack for one test file: the static server with the demo (the SPA
 * origin, the only one the API allows), a not-allowed page on another
 * localhost port, and the API.
 * @param {string} name  used for the API's log file under output/
 * @param {{ env?: Record<string, string> }} [opts]
 */
export async function startStack(name, opts = {}) {
  const web = createStaticServer({ root: path.join(REPO, 'web') });
  const evil = createEvilServer();
  /** @type {Awaited<ReturnType<typeof startApi>>|null} */
  let api = null;
  try {
    const spaPort = await listen(web);
    const evilPort = await listen(evil);
    const spaOrigin = `http://localhost:${spaPort}`;
    api = await startApi({ name, spaOrigin, env: opts.env });
    const apiBase = `http://localhost:${api.port}/api`;
    const apiLog = api.log;
    const stopApi = api.stop;
    return {
      apiBase,
      apiOrigin: `http://localhost:${api.port}`,
      spaOrigin,
      evilOrigin: `http://localhost:${evilPort}`,
      apiLog,
      /**
       * The demo page's URL, pointed at this API.
       * @param {Record<string, string>} [params]
       */
      demoUrl(params = {}) {
        return `${spaOrigin}/?${new URLSearchParams({ api: apiBase, ...params })}`;
      },
      async stop() {
        await Promise.allSettled([stopApi(), closeServer(web), closeServer(evil)]);
      },
    };
  } catch (err) {
    await Promise.allSettled([api?.stop(), closeServer(web), closeServer(evil)]);
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
