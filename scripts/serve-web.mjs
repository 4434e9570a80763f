#!/usr/bin/env node
// Serves the demo SPA (web/) for development, with node's http module only.
//
//   node scripts/serve-web.mjs [--port 5173] [--host 127.0.0.1] [--root web] [--api <base>]
//
// Then open http://localhost:5173 (use `localhost`, not 127.0.0.1: the API's
// cookies are SameSite=Lax, so the page and the API must be on the same site).
// The demo's own routes, where the links in the API's mails point
// (`/reset-password?token=…`, `/verify-email?token=…`), serve index.html.
// `--api` (or WEB_API) serves a config.js with that API base instead of the
// file, so those links reach the right API without `?api=`.
// Also importable: `createStaticServer({ root, apiBaseUrl })` returns an
// unstarted http.Server.
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

// The demo talks to an API on another origin (its base URL is configurable),
// so connect-src allows http(s); everything else is this origin only. Forms
// are handled in JS: form-action 'none' keeps a password out of any URL even
// if the script failed to load.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self' http: https:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
  'Cache-Control': 'no-store',
};

/**
 * The demo's client-side routes: what the API's mails link to
 * (`{FRONTEND_URL}/reset-password?token=…`, `{FRONTEND_URL}/verify-email?token=…`).
 * They serve index.html, which shows the matching form; the token is only
 * sent when the user submits it.
 */
export const SPA_ROUTES = ['/reset-password', '/verify-email'];

/**
 * @param {{ root: string, apiBaseUrl?: string | (() => string | null | undefined) }} options
 *   `apiBaseUrl`: serve `/config.js` as a module with this API base (a
 *   function is asked at each request) instead of the file in `root`
 * @returns {http.Server}
 */
export function createStaticServer({ root, apiBaseUrl }) {
  const base = path.resolve(root);
  return http.createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, 405, 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
      }
      const pathname = new URL(req.url ?? '/', 'http://x').pathname;
      const api = typeof apiBaseUrl === 'function' ? apiBaseUrl() : apiBaseUrl;
      if (pathname === '/config.js' && api) {
        const body = Buffer.from(`// Served by serve-web.mjs (--api).\nexport const config = ${JSON.stringify({ apiBaseUrl: api })};\n`);
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'Content-Type': TYPES['.js'],
          'Content-Length': body.length,
        });
        return res.end(req.method === 'HEAD' ? undefined : body);
      }
      const file = await resolveFile(base, SPA_ROUTES.includes(pathname) ? '/index.html' : pathname);
      if (!file) {
        return send(res, 404, 'Not Found\n');
      }
      const body = await fs.readFile(file);
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'Content-Type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': body.length,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      console.error(`serve-web: ${req.method} ${req.url}: ${err}`);
      if (!res.headersSent) {
        send(res, 500, 'Internal Server Error\n');
      } else {
        res.destroy();
      }
    }
  });
}

/**
 * Maps a URL path to a regular file inside `base`, or null. No dot files, no
 * escaping the root (also not through symlinks), directories serve index.html.
 * @param {string} base
 * @param {string} pathname
 */
async function resolveFile(base, pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.split('/').some((part) => part.startsWith('.') && part !== '')) {
    return null;
  }
  let file = path.join(base, path.normalize(decoded));
  try {
    let stat = await fs.stat(file);
    if (stat.isDirectory()) {
      file = path.join(file, 'index.html');
      stat = await fs.stat(file);
    }
    if (!stat.isFile()) {
      return null;
    }
    const real = await fs.realpath(file);
    const realBase = await fs.realpath(base);
    return real.startsWith(realBase + path.sep) ? real : null;
  } catch {
    return null;
  }
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {string} text
 * @param {Record<string, string>} [extra]
 */
function send(res, status, text, extra = {}) {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
  res.end(text);
}

/** @param {string[]} argv */
function parseArgs(argv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const opts = {
    port: Number(process.env.WEB_PORT ?? 5173),
    host: process.env.WEB_HOST ?? '127.0.0.1',
    root: path.join(here, '..', 'web'),
    /** @type {string|undefined} */
    api: process.env.WEB_API || undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [key, inline] = arg.split('=', 2);
    const value = () => inline ?? argv[++i];
    if (key === '--port' || key === '-p') {
      opts.port = Number(value());
    } else if (key === '--host') {
      opts.host = value();
    } else if (key === '--root') {
      opts.root = path.resolve(value());
    } else if (key === '--api') {
      opts.api = value();
    } else if (key === '--help' || key === '-h') {
      console.log('usage: serve-web.mjs [--port 5173] [--host 127.0.0.1] [--root web] [--api <base>]  (env: WEB_PORT, WEB_HOST, WEB_API)');
      process.exit(0);
    } else if (/^\d+$/.test(arg)) {
      opts.port = Number(arg);
    } else {
      console.error(`serve-web: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    console.error(`serve-web: bad port ${opts.port}`);
    process.exit(2);
  }
  if (opts.api !== undefined && !/^https?:\/\/[^/]/i.test(opts.api)) {
    console.error(`serve-web: --api must be an absolute http(s) URL, e.g. http://localhost:8080/api (got ${opts.api})`);
    process.exit(2);
  }
  return opts;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  const server = createStaticServer({ root: opts.root, apiBaseUrl: opts.api });
  server.on('error', (err) => {
    console.error(`serve-web: cannot listen on ${opts.host}:${opts.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
    console.log(`serve-web: serving ${opts.root} on http://localhost:${addr.port}/ (bound to ${opts.host})`);
    console.log(
      opts.api
        ? `serve-web: the page calls ${opts.api} (--api); ?api=<base> overrides it per visit`
        : 'serve-web: the page calls http://localhost:8080/api by default; add ?api=<base> (or start with --api <base>) to change it',
    );
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  }
}
