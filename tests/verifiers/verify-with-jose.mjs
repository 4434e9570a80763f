// Verifying tokengate access tokens in your own Node API (express + jose).
// The README quotes this file; tests/verifiers/jose.test.mjs runs it against
// the real service.
import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';

/**
 * A verifier for tokengate's access tokens (JWT_ALGORITHM=EdDSA).
 * jose caches the JWKS (cacheMaxAge: at most tokengate's max-age, 5 min by
 * default) and refetches it when a token names an unknown `kid`, at most once
 * per cooldownDuration.
 */
export function tokengateVerifier({
  jwksUrl, // e.g. 'https://auth.example.com/.well-known/jwks.json'
  issuer = 'tokengate',
  audience = 'tokengate-spa',
  cacheMaxAge = 5 * 60_000,
  cooldownDuration = 30_000,
}) {
  const jwks = createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge, cooldownDuration });
  return async (token) => {
    const { payload } = await jwtVerify(token, jwks, {
      issuer,
      audience,
      algorithms: ['EdDSA'], // never let the token choose
    });
    if (payload.typ !== 'access') throw new Error('not an access token');
    return payload; // sub: user id, sid: session id, exp, ...
  };
}

/** Express middleware: `Authorization: Bearer <access token>` → req.user, else 401. */
export function requireTokengate(verify) {
  return async (req, res, next) => {
    const [scheme, token] = (req.headers.authorization ?? '').split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token) return res.status(401).json({ message: 'no token' });
    try {
      req.user = await verify(token);
      next();
    } catch {
      res.status(401).json({ message: 'invalid or expired token' });
    }
  };
}

/** A tiny API protected by tokengate. */
export function exampleApi(verify) {
  const app = express();
  app.get('/me', requireTokengate(verify), (req, res) => res.json({ userId: req.user.sub }));
  return app;
}
