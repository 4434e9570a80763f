// The benchmark's peer (scripts/bench.sh, issue 17): the auth endpoints the
// bench drives, written the way express seeds and tutorials write them:
// express, jsonwebtoken, bcryptjs, cookie-parser and cors, users and
// sessions in memory. Same paths, cookie names and JSON shapes as tokengate
// (docs/API.md), so the bench's wrk scripts drive both unchanged.
//
// One process, one thread for JavaScript, as `node server.js` runs it.
//
// Environment (the names tokengate reads, so the bench passes the same):
//   HOST, PORT                         where to listen (127.0.0.1:8080)
//   JWT_SECRET, JWT_REFRESH_SECRET     required, different
//   FRONTEND_ORIGIN                    the one origin CORS allows, with credentials
//   BCRYPT_COST                        12
//   NODE_ENV=production                Secure cookies
//   PEER_JWT_KEYS=string | keyobject   how the secrets reach jsonwebtoken:
//     string     the usual way: jwt.sign(payload, process.env.JWT_SECRET)
//     keyobject  crypto.createSecretKey(...) once at start-up; jsonwebtoken
//                then skips turning the string into a key on every call

'use strict';

const crypto = require('node:crypto');
const express = require('express');
const cookieParser = require('cookie-parser');
const cors = require('cors');
const jwt = require('jsonwebtoken');
const bcrypt = require('bcryptjs');

// ----- configuration -----------------------------------------------------

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(1);
  }
  return value;
}

const production = process.env.NODE_ENV === 'production';
const keyMode = process.env.PEER_JWT_KEYS || 'string';
if (keyMode !== 'string' && keyMode !== 'keyobject') {
  console.error(`PEER_JWT_KEYS must be string or keyobject, not ${keyMode}`);
  process.exit(1);
}

function jwtKey(secret) {
  return keyMode === 'keyobject' ? crypto.createSecretKey(Buffer.from(secret, 'utf8')) : secret;
}

const config = {
  host: process.env.HOST || '127.0.0.1',
  port: Number(process.env.PORT || 8080),
  accessKey: jwtKey(required('JWT_SECRET')),
  refreshKey: jwtKey(required('JWT_REFRESH_SECRET')),
  origin: process.env.FRONTEND_ORIGIN || 'http://localhost:5173',
  bcryptCost: Number(process.env.BCRYPT_COST || 12),
};
if (process.env.JWT_SECRET === process.env.JWT_REFRESH_SECRET) {
  console.error('JWT_SECRET and JWT_REFRESH_SECRET must differ');
  process.exit(1);
}

const ACCESS_TTL_S = 15 * 60;
const REFRESH_TTL_S = 7 * 24 * 60 * 60;
const ISSUER = 'tokengate';
const AUDIENCE = 'tokengate-spa';
const VERIFY_OPTIONS = { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE };

const cookieOptions = { httpOnly: true, secure: production, sameSite: 'lax' };
const accessCookie = { ...cookieOptions, path: '/', maxAge: ACCESS_TTL_S * 1000 };
const refreshCookie = { ...cookieOptions, path: '/api/auth', maxAge: REFRESH_TTL_S * 1000 };

// ----- data --------------------------------------------------------------

const users = new Map(); // id -> user
const userIdsByEmail = new Map(); // email -> id
const reportSettings = new Map(); // user id -> report setting
const sessions = new Map(); // session id -> { userId, jti, expiresAt (ms) }

function publicUser(user) {
  const { passwordHash, ...rest } = user;
  return rest;
}

// ----- tokens and cookies ------------------------------------------------

// Signs a new access + refresh pair for the session, records the refresh
// token's id as the session's current one and sets both cookies. The refresh
// cookie goes last: wrk keeps only the last Set-Cookie header.
function issueTokens(res, sessionId, session) {
  const jti = crypto.randomUUID();
  const accessToken = jwt.sign({ sid: sessionId, typ: 'access' }, config.accessKey, {
    algorithm: 'HS256', subject: session.userId, expiresIn: ACCESS_TTL_S, issuer: ISSUER, audience: AUDIENCE,
  });
  const refreshToken = jwt.sign({ sid: sessionId, typ: 'refresh' }, config.refreshKey, {
    algorithm: 'HS256', subject: session.userId, jwtid: jti, expiresIn: REFRESH_TTL_S, issuer: ISSUER,
    audience: AUDIENCE,
  });
  session.jti = jti;
  session.expiresAt = Date.now() + REFRESH_TTL_S * 1000;
  res.cookie('accessToken', accessToken, accessCookie);
  res.cookie('refreshToken', refreshToken, refreshCookie);
  return new Date(Date.now() + ACCESS_TTL_S * 1000).toISOString();
}

function clearAuthCookies(res) {
  res.clearCookie('accessToken', { ...cookieOptions, path: '/' });
  res.clearCookie('refreshToken', { ...cookieOptions, path: '/api/auth' });
}

// The access token from `Authorization: Bearer` when that header is present,
// else from the cookie.
function requireAuth(req, res, next) {
  const header = req.headers.authorization;
  let token;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    token = match && match[1];
  } else {
    token = req.cookies.accessToken;
  }
  if (!token) return unauthorized(res);
  try {
    const claims = jwt.verify(token, config.accessKey, VERIFY_OPTIONS);
    if (claims.typ !== 'access') return unauthorized(res);
    req.userId = claims.sub;
    return next();
  } catch (err) {
    return unauthorized(res);
  }
}

function unauthorized(res) {
  return res.status(401).set('WWW-Authenticate', 'Bearer').json({ message: 'Authentication required' });
}

// ----- the app -----------------------------------------------------------

const app = express();
app.disable('x-powered-by');
app.use(cors({ origin: config.origin, credentials: true }));
app.use(express.json({ limit: '16kb' }));
app.use(cookieParser());

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

app.post('/api/auth/register', async (req, res) => {
  const { name, email, password } = req.body || {};
  const errors = [];
  if (typeof name !== 'string' || !name.trim()) errors.push({ field: 'name', message: 'name is required' });
  if (typeof email !== 'string' || !EMAIL.test(email.trim())) {
    errors.push({ field: 'email', message: 'Email must be a valid email address' });
  }
  if (typeof password !== 'string' || password.length < 8) {
    errors.push({ field: 'password', message: 'Password must be at least 8 characters' });
  }
  if (errors.length) return res.status(400).json({ message: 'Validation failed', errors });

  const normalized = email.trim().toLowerCase();
  if (userIdsByEmail.has(normalized)) {
    const taken = { field: 'email', message: 'Email is already registered' };
    return res.status(409).json({ message: 'Email is already registered', errors: [taken] });
  }
  const passwordHash = await bcrypt.hash(password, config.bcryptCost);
  if (userIdsByEmail.has(normalized)) { // registered while this one hashed
    const taken = { field: 'email', message: 'Email is already registered' };
    return res.status(409).json({ message: 'Email is already registered', errors: [taken] });
  }
  const now = new Date();
  const user = {
    _id: crypto.randomUUID(), name: name.trim(), email: normalized, profilePicture: null,
    createdAt: now, updatedAt: now, passwordHash,
  };
  users.set(user._id, user);
  userIdsByEmail.set(normalized, user._id);
  reportSettings.set(user._id, { _id: crypto.randomUUID(), frequency: 'MONTHLY', isEnabled: true });
  return res.status(201).json({ message: 'User registered successfully', data: { user: publicUser(user) } });
});

app.post('/api/auth/login', async (req, res) => {
  const { email, password } = req.body || {};
  if (typeof email !== 'string' || typeof password !== 'string' || !password) {
    return res.status(400).json({ message: 'Validation failed' });
  }
  const user = users.get(userIdsByEmail.get(email.trim().toLowerCase()));
  if (!user || !(await bcrypt.compare(password, user.passwordHash))) {
    return res.status(401).json({ message: 'Invalid email or password' });
  }
  const sessionId = crypto.randomUUID();
  const session = { userId: user._id, jti: null, expiresAt: 0 };
  sessions.set(sessionId, session);
  const expiresAt = issueTokens(res, sessionId, session);
  return res.json({
    message: 'User logged in successfully',
    user: publicUser(user),
    expiresAt,
    reportSetting: reportSettings.get(user._id),
  });
});

// Rotation: the refresh token must be its session's current one; a token
// that was already replaced is reuse and ends the session.
app.post('/api/auth/refresh', (req, res) => {
  const refused = () => {
    clearAuthCookies(res);
    return res.status(401).json({ message: 'Session expired, please log in again' });
  };
  const token = req.cookies.refreshToken;
  if (!token) return refused();
  let claims;
  try {
    claims = jwt.verify(token, config.refreshKey, VERIFY_OPTIONS);
  } catch (err) {
    return refused();
  }
  if (claims.typ !== 'refresh') return refused();
  const session = sessions.get(claims.sid);
  if (!session || session.userId !== claims.sub || session.expiresAt <= Date.now()) return refused();
  if (session.jti !== claims.jti) {
    sessions.delete(claims.sid);
    return refused();
  }
  const expiresAt = issueTokens(res, claims.sid, session);
  return res.json({ message: 'Token refreshed', expiresAt });
});

app.get('/api/user/current-user', requireAuth, (req, res) => {
  const user = users.get(req.userId);
  if (!user) return unauthorized(res);
  return res.json({ message: 'Current user fetched successfully', user: publicUser(user) });
});

app.get('/health/live', (req, res) => res.json({ message: 'live' }));
app.get('/health/ready', (req, res) => res.json({ message: 'ready' }));

app.use((req, res) => res.status(404).json({ message: 'Not found' }));

// express.json()'s errors carry a status (400, 413, 415); anything else is ours.
app.use((err, req, res, next) => {
  const status = err.status >= 400 && err.status < 500 ? err.status : 500;
  if (status === 500) console.error(err);
  res.status(status).json({ message: status === 500 ? 'Internal server error' : 'Invalid request body' });
});

// Express 5 passes a failed listen (port taken) to the callback.
app.listen(config.port, config.host, (err) => {
  if (err) throw err;
  console.log(`peer listening on ${config.host}:${config.port} (JWT keys: ${keyMode})`);
});
