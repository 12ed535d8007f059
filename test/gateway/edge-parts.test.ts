import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { createLogger } from '../../apps/core/logger.ts';
import { createEdgeEndpoints } from '../../apps/server/gateway/edge-endpoints.ts';
import { createEdgeSessions, EDGE_SESSION_COOKIE, type EdgeSession } from '../../apps/server/gateway/edge-session.ts';
import { createIdentityTokens } from '../../apps/server/gateway/identity-token.ts';
import { nginxHeaders } from './gateway-fixture.ts';

const KEY_A = 'a'.repeat(32);
const KEY_B = 'b'.repeat(32);

describe('edge sessions (cookie and binding to the Gatehouse session)', () => {
  let now = 1_000_000_000_000;
  const session: EdgeSession = { sub: 'user-1', sid: 'session-uid', gid: 'grant-1', email: 'ada@example.com', iat: 1_000_000_000, exp: 1_000_003_600 };
  const probes: string[] = [];
  let stored: { accountId?: string; grantId?: string } | undefined = { accountId: 'user-1', grantId: 'grant-1' };
  let revoked = false;
  const sessions = (keys: string[]) =>
    createEdgeSessions({
      cookieKeys: keys,
      checkSeconds: 5,
      now: () => now,
      isRevoked: () => revoked,
      probe: async (sid) => {
        probes.push(sid);
        return stored;
      },
    });
  const header = (value: string) => `other=1; ${EDGE_SESSION_COOKIE}=${value}`;

  beforeEach(() => {
    now = 1_000_000_000_000;
    probes.length = 0;
    stored = { accountId: 'user-1', grantId: 'grant-1' };
    revoked = false;
  });

  it('reads back what it sealed, and asks the database at most once per check interval', async () => {
    const edge = sessions([KEY_A]);
    const cookie = edge.seal(session);
    expect(await edge.fromCookieHeader(header(cookie))).toEqual(session);
    expect(await edge.fromCookieHeader(header(cookie))).toEqual(session);
    expect(probes).toEqual(['session-uid']);
    now += 5_001;
    await edge.fromCookieHeader(header(cookie));
    expect(probes).toHaveLength(2);
  });

  it('refuses a tampered cookie, one sealed under a key no longer listed, and an expired one', async () => {
    const edge = sessions([KEY_A]);
    const cookie = edge.seal(session);
    const [version, payload, mac] = cookie.split('.');
    const forged = Buffer.from(JSON.stringify({ ...session, sub: 'admin' })).toString('base64url');
    expect(await edge.fromCookieHeader(header(`${version}.${forged}.${mac}`))).toBeUndefined();
    expect(await edge.fromCookieHeader(header(`${version}.${payload}.${mac.slice(0, -2)}`))).toBeUndefined();
    expect(await sessions([KEY_B]).fromCookieHeader(header(cookie))).toBeUndefined();
    expect(await edge.fromCookieHeader(header(edge.seal({ ...session, exp: now / 1000 - 1 })))).toBeUndefined();
  });

  it('keeps a session sealed under the previous key valid after COOKIE_KEYS rotates', async () => {
    const cookie = sessions([KEY_A]).seal(session);
    expect(await sessions([KEY_B, KEY_A]).fromCookieHeader(header(cookie))).toEqual(session);
  });

  it('ends with the Gatehouse session, with the edge grant within it, and with a subject revocation', async () => {
    const edge = sessions([KEY_A]);
    const cookie = edge.seal(session);
    stored = undefined;
    expect(await edge.fromCookieHeader(header(cookie))).toBeUndefined();
    now += 5_001;
    stored = { accountId: 'user-1', grantId: 'another-grant' };
    expect(await edge.fromCookieHeader(header(cookie))).toBeUndefined();
    now += 5_001;
    stored = { accountId: 'user-1', grantId: 'grant-1' };
    revoked = true;
    expect(await edge.fromCookieHeader(header(cookie))).toBeUndefined();
  });

  it('tries each cookie of the name a browser sends (a host-only one and a domain one)', async () => {
    const edge = sessions([KEY_A]);
    expect(await edge.fromCookieHeader(`${EDGE_SESSION_COOKIE}=stale; ${EDGE_SESSION_COOKIE}=${edge.seal(session)}`)).toEqual(session);
  });
});

describe('identity tokens (signed once, handed out again)', () => {
  it('reuses a signature while 30 s are left and the key is current; signs anew after; never outlives the credential', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' };
    let now = 1_000_000_000_000;
    let kid = 'k1';
    const identities = createIdentityTokens({ issuer: 'https://id.example.test', now: () => now, signingKey: () => ({ jwk, kid, alg: 'ES256' }) });
    const claims = { sub: 's', client_id: 'c', scope: 'a', roles: [], groups: [] };
    const first = await identities.issue('key', 'https://api.example.test', claims, now / 1000 + 3600);
    expect(decodeJwt(first)).toMatchObject({ iat: now / 1000, exp: now / 1000 + 60 });
    now += 29_000;
    expect(await identities.issue('key', 'https://api.example.test', claims, now / 1000 + 3600)).toBe(first);
    now += 2_000;
    const second = await identities.issue('key', 'https://api.example.test', claims, now / 1000 + 3600);
    expect(second).not.toBe(first);
    kid = 'k2';
    expect(await identities.issue('key', 'https://api.example.test', claims, now / 1000 + 3600)).not.toBe(second);
    const short = await identities.issue('other', 'https://api.example.test', claims, now / 1000 + 10);
    expect(decodeJwt(short).exp).toBe(now / 1000 + 10);
    now += 5_000;
    expect(await identities.issue('other', 'https://api.example.test', claims, now / 1000 + 5)).toBe(short);
  });
});

describe('the decision endpoints when a decision cannot be made', () => {
  it('answer 503 with Retry-After (never a 500), and log the cause', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({
      level: 'info',
      destination: new Writable({
        write: (chunk, _e, done) => {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    });
    const endpoints = createEdgeEndpoints({
      engine: { decide: () => Promise.reject(new Error('directory unreachable')) },
      callers: ['127.0.0.1'],
      signInUrl: (rd) => rd,
      log,
    });
    const server = createServer(endpoints((_req, res) => res.writeHead(404).end()));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/edge/v1/auth-request`, {
        headers: nginxHeaders('GET', '/orders/1'),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(await response.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'the decision could not be made, try again shortly' });
      expect(lines.find((l) => l.msg === 'edge decision failed')).toMatchObject({
        level: 50,
        err: expect.objectContaining({ message: 'directory unreachable' }),
      });
    } finally {
      server.close();
    }
  });
});
