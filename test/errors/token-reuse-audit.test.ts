import pg from 'pg';
import { createCookieJar } from '../support/cookie-jar.ts';
import { PASSWORD, authorizationRequest, signIn, startSsoServer } from '../support/sso.ts';

// A replayed authorization code or refresh token is refused with invalid_grant and audited as
// reuse, whether oidc-provider finds it already consumed or the redemption races the first one
// and loses at the database (the adapter's conditional UPDATE). Decided from state, never from
// oidc-provider's wording: the racing replay's "AuthorizationCode already consumed" matched none
// of it and went unaudited.

let sso: Awaited<ReturnType<typeof startSsoServer>>;

beforeAll(async () => {
  sso = await startSsoServer({ CLIENT_CACHE_TTL: '0' });
});
afterAll(async () => {
  await sso?.close();
});

interface App {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

async function newApp(): Promise<App & { config: Parameters<typeof authorizationRequest>[0] }> {
  const app = await sso.fixtures.createClient();
  return { clientId: app.clientId, clientSecret: app.clientSecret!, redirectUri: app.redirectUri, config: app.config };
}

async function codeFor(app: Awaited<ReturnType<typeof newApp>>, scope = 'openid') {
  const request = await authorizationRequest(app.config, app.redirectUri, { scope, prompt: 'consent' });
  const { callback } = await signIn(createCookieJar(), request.url, { email: 'ada@example.com', password: PASSWORD, consent: 'allow' });
  return { code: new URL(callback!).searchParams.get('code')!, verifier: request.verifier };
}

const token = async (app: App, form: Record<string, string>) => {
  const response = await fetch(`${sso.server.url}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
};

const redeem = (app: App, grant: { code: string; verifier: string }) =>
  token(app, { grant_type: 'authorization_code', code: grant.code, redirect_uri: app.redirectUri, code_verifier: grant.verifier });

/**
 * How many times the client's audit trail records `type`, once an event of type `until` has
 * landed (the writes are batched, and land in order). Identical events of one batch are
 * written as one, with `details.count`.
 */
async function countAudited(clientId: string, type: string, until = type) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const events = await sso.fixtures.services.audit.tail({ clientId, limit: 100 });
    if (events.some((e) => e.type === until) || Date.now() > deadline) {
      return events.filter((e) => e.type === type).reduce((sum, e) => sum + Number((e.details as { count?: number } | undefined)?.count ?? 1), 0);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Runs `race` while every row of `model` is locked, until two UPDATEs that consume a row wait
 * on the lock, then lets them go: both redemptions have read the row unconsumed, and exactly one
 * UPDATE can consume it.
 */
async function whileConsumptionsWait<T>(model: string, race: () => Promise<T>): Promise<T> {
  // Two sessions: one holds the lock in a transaction, and one watches from outside it
  // (pg_stat_activity holds still for the length of a transaction).
  const [lock, watch] = [new pg.Client({ connectionString: sso.database.url }), new pg.Client({ connectionString: sso.database.url })];
  await Promise.all([lock.connect(), watch.connect()]);
  try {
    await lock.query('BEGIN');
    await lock.query('SELECT 1 FROM oidc_payloads WHERE model = $1 FOR UPDATE', [model]);
    const raced = race();
    const deadline = Date.now() + 5000;
    for (;;) {
      const { rows } = await watch.query<{ waiting: number }>(
        "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE oidc_payloads SET consumed_at%'",
      );
      if (rows[0].waiting === 2) break;
      if (Date.now() > deadline) throw new Error(`${rows[0].waiting} consumptions waited on the lock, not 2`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await lock.query('COMMIT');
    return await raced;
  } finally {
    await Promise.all([lock.end(), watch.end()]);
  }
}

describe('a replayed authorization code', () => {
  it('is refused with invalid_grant and audited as authorization_code.reuse_detected', async () => {
    const app = await newApp();
    const grant = await codeFor(app);
    expect((await redeem(app, grant)).status).toBe(200);
    expect(await redeem(app, grant)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } });
    expect(await countAudited(app.clientId, 'authorization_code.reuse_detected')).toBe(1);
  });

  it('regression: when two redemptions race, exactly one wins and the other is audited as authorization_code.reuse_detected', async () => {
    const app = await newApp();
    const grant = await codeFor(app);
    const answers = await whileConsumptionsWait('AuthorizationCode', () => Promise.all([redeem(app, grant), redeem(app, grant)]));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 400]);
    expect(answers.find((a) => a.status === 400)!.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
    expect(await countAudited(app.clientId, 'authorization_code.reuse_detected')).toBe(1);
  });

  it('audits no reuse for a code that was never issued, nor for the first redemption after it', async () => {
    const app = await newApp();
    const grant = await codeFor(app);
    expect((await redeem(app, { ...grant, code: `${grant.code}x` })).status).toBe(400);
    expect((await redeem(app, grant)).status).toBe(200);
    expect(await countAudited(app.clientId, 'authorization_code.reuse_detected', 'token.issued')).toBe(0);
  });
});

describe('a replayed refresh token', () => {
  it('regression: when two refreshes race, exactly one wins and the other is audited as refresh_token.reuse_detected', async () => {
    const app = await newApp();
    const tokens = await redeem(app, await codeFor(app, 'openid offline_access'));
    expect(tokens.body.refresh_token).toEqual(expect.any(String));
    const refresh = () => token(app, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token });
    const answers = await whileConsumptionsWait('RefreshToken', () => Promise.all([refresh(), refresh()]));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 400]);
    expect(answers.find((a) => a.status === 400)!.body).toMatchObject({ error: 'invalid_grant' });
    expect(await countAudited(app.clientId, 'refresh_token.reuse_detected')).toBe(1);
  });
});
