// Third-party verifiers against the real tokengate binary (EdDSA), no mocks:
// jose (through the README's express snippet, verify-with-jose.mjs) and PyJWT
// (verify_pyjwt.py, in the venv scripts/verifiers.sh makes) verify an access
// token before and after a rotation forced with `tokengate keys rotate`, and a
// token of the retired key stops verifying only once it has expired.
import { spawn, execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeProtectedHeader, errors } from 'jose';
import { exampleApi, tokengateVerifier } from './verify-with-jose.mjs';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BIN = process.env.TOKENGATE_BIN ?? path.join(REPO, 'target', 'debug', 'tokengate');
const PYTHON = process.env.VERIFIERS_PYTHON ?? 'python3';
const ACCESS_TTL_S = 4;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tokengate-verifiers-'));
let server;
let base;
let logs = '';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function env(port) {
  return {
    PATH: process.env.PATH,
    APP_CONFIG_DIR: path.join(REPO, 'config'),
    HOST: '127.0.0.1',
    PORT: String(port ?? 0),
    SQLITE_PATH: path.join(work, 'tokengate.sqlite'),
    BCRYPT_COST: '4',
    FRONTEND_ORIGIN: 'http://localhost:5173',
    EXPOSE_ACCESS_TOKEN: 'true',
    LOG_FORMAT: 'json',
    RUST_LOG: 'warn',
    JWT_ALGORITHM: 'EdDSA',
    JWT_KEY_ENCRYPTION_KEY: 'KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=',
    JWT_EXPIRES_IN: `${ACCESS_TTL_S}s`,
    JWT_JWKS_MAX_AGE: '1s',
    APP_JWT__KEY_REFRESH_INTERVAL: '1s',
    APP_JWT__LEEWAY: '0s',
  };
}

async function post(pathname, body) {
  const res = await fetch(base + pathname, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const email = `verifier-${Date.now()}@example.com`;
const password = 'correct horse battery';
async function accessToken() {
  const { status, body } = await post('/api/auth/login', { email, password });
  assert.equal(status, 200);
  return body.accessToken;
}

async function jwksKids() {
  const res = await fetch(`${base}/.well-known/jwks.json`);
  return (await res.json()).keys.map((k) => k.kid);
}

/** PyJWT's verdict: { ok, out }. */
async function pyjwt(token) {
  try {
    const { stdout } = await run(PYTHON, [path.join(HERE, 'verify_pyjwt.py'), `${base}/.well-known/jwks.json`, token]);
    return { ok: true, out: stdout.trim() };
  } catch (e) {
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, [], { env: env(port), stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (d) => (logs += d));
  server.stderr.on('data', (d) => (logs += d));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health/ready`)).ok) break;
    } catch {}
    if (i > 300) throw new Error(`tokengate did not start:\n${logs}`);
    await sleep(50);
  }
  const { status } = await post('/api/auth/register', { name: 'Ada Lovelace', email, password });
  assert.equal(status, 201);
});

after(() => {
  server?.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
});

test('jose and PyJWT verify tokens across a rotation; a retired key verifies until its tokens expire', async () => {
  // Short cooldown: the test rotates within seconds, a real API waits 30 s.
  const verify = tokengateVerifier({ jwksUrl: `${base}/.well-known/jwks.json`, cacheMaxAge: 1000, cooldownDuration: 200 });

  const first = await accessToken();
  const firstKid = decodeProtectedHeader(first).kid;
  assert.equal(decodeProtectedHeader(first).alg, 'EdDSA');
  const claims = await verify(first);
  assert.equal(claims.iss, 'tokengate');
  assert.equal(claims.aud, 'tokengate-spa');
  const py = await pyjwt(first);
  assert.ok(py.ok, `PyJWT refused a fresh token: ${py.out}`);
  assert.equal(JSON.parse(py.out).sub, claims.sub);

  // The express snippet, over HTTP.
  const api = exampleApi(verify).listen(0, '127.0.0.1');
  await new Promise((r) => api.once('listening', r));
  const apiBase = `http://127.0.0.1:${api.address().port}`;
  const me = await fetch(`${apiBase}/me`, { headers: { authorization: `Bearer ${first}` } });
  assert.equal(me.status, 200);
  assert.deepEqual(await me.json(), { userId: claims.sub });
  assert.equal((await fetch(`${apiBase}/me`, { headers: { authorization: `Bearer ${first}x` } })).status, 401);
  assert.equal((await fetch(`${apiBase}/me`)).status, 401);

  // Force a rotation through the CLI, on the same store.
  const { stdout } = await run(BIN, ['keys', 'rotate'], { env: env() });
  assert.match(stdout, /added key/);
  // Wait until the service signs with the new key.
  // The old key keeps signing until the new one activates; keep its last token.
  let second;
  let old = first;
  for (let i = 0; ; i++) {
    second = await accessToken();
    if (decodeProtectedHeader(second).kid !== firstKid) break;
    old = second;
    assert.ok(i < 100, 'the new key never signed');
    await sleep(100);
  }
  const rotatedAt = Date.now();
  assert.deepEqual(await jwksKids(), [firstKid, decodeProtectedHeader(second).kid]);
  assert.equal((await verify(second)).sub, claims.sub, 'jose: the new key verifies');
  assert.ok((await pyjwt(second)).ok, 'PyJWT: the new key verifies');

  // A token of the retired key, signed just before the switch, still verifies...
  assert.notEqual(old, first, 'the new key signed at once: it was not published first');
  const oldExp = JSON.parse(Buffer.from(old.split('.')[1], 'base64url')).exp * 1000;
  assert.ok(Date.now() < oldExp - 1000, 'the last old token is still live');
  assert.equal((await verify(old)).sub, claims.sub, 'jose: the retired key verifies its live token');
  const r = await pyjwt(old);
  assert.ok(r.ok, `PyJWT: the retired key verifies its live token: ${r.out}`);
  // ... still does shortly before it expires (the key is still published)...
  await sleep(Math.max(0, oldExp - Date.now() - 800));
  assert.equal((await verify(old)).sub, claims.sub, 'jose: verified until its expiry');
  // ... and stops once it has expired: jose says expired, or, once the key
  // has left the JWKS too, that no key matches.
  await sleep(Math.max(0, oldExp - Date.now()) + 1100);
  await assert.rejects(verify(old), (e) => e instanceof errors.JWTExpired || e instanceof errors.JWKSNoMatchingKey);
  const late = await pyjwt(old);
  assert.ok(!late.ok && /Expired|Unable to find a signing key/i.test(late.out), late.out);

  // Once every token of the old key has expired, it leaves the JWKS.
  for (let i = 0; (await jwksKids()).includes(firstKid); i++) {
    assert.ok(i < 100, 'the retired key stayed published');
    await sleep(100);
  }
  assert.ok(Date.now() - rotatedAt >= ACCESS_TTL_S * 1000 - 1500, 'the retired key left too early');
  assert.ok((await pyjwt(await accessToken())).ok);
  api.close();
});
