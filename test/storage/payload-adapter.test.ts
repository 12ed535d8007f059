import { createPayloadAdapter, digest, sweepExpired } from '../../apps/server/provider/payload-adapter.ts';
import { createTestDatabase, statementsDuring, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());

describe('Prisma adapter (oidc-provider storage contract)', () => {
  it('stores a payload and finds it by id, restoring jti', async () => {
    const adapter = createPayloadAdapter(t.db, 'AccessToken');
    await adapter.upsert('token-1', { jti: 'token-1', accountId: 'u1', grantId: 'g1', kind: 'AccessToken' }, 60);
    expect(await adapter.find('token-1')).toEqual({ jti: 'token-1', accountId: 'u1', grantId: 'g1', kind: 'AccessToken' });
  });

  it('stores bearer values only as SHA-256 digests: the raw id is nowhere in the table', async () => {
    const adapter = createPayloadAdapter(t.db, 'AuthorizationCode');
    const code = 'a-very-secret-authorization-code-value';
    await adapter.upsert(code, { jti: code, grantId: 'g2', kind: 'AuthorizationCode' }, 60);
    const rows = await t.db.$queryRaw<Array<{ dump: string }>>`SELECT row_to_json(p)::text AS dump FROM oidc_payloads p WHERE model = 'AuthorizationCode'`;
    expect(rows).toHaveLength(1);
    expect(rows[0].dump).not.toContain(code);
    expect(rows[0].dump).toContain(digest(code));
  });

  it('stores no session cookie value with an interaction (regression: payload.session.cookie held the _session value in clear)', async () => {
    const adapter = createPayloadAdapter(t.db, 'Interaction');
    const sessionCookie = 'the-browser-session-cookie-value';
    await adapter.upsert(
      'interaction-1',
      { jti: 'interaction-1', kind: 'Interaction', session: { accountId: 'u1', uid: 'session-uid', cookie: sessionCookie } },
      60,
    );
    const rows = await t.db.$queryRaw<Array<{ dump: string }>>`SELECT row_to_json(p)::text AS dump FROM oidc_payloads p WHERE model = 'Interaction'`;
    expect(rows.map((r) => r.dump.includes(sessionCookie))).toEqual([false]);
    expect((await adapter.find('interaction-1'))?.session).toEqual({ accountId: 'u1', uid: 'session-uid' });
  });

  it('returns undefined for a missing id', async () => {
    expect(await createPayloadAdapter(t.db, 'AccessToken').find('does-not-exist')).toBeUndefined();
  });

  it('does not mix models: the same id under another model is another row', async () => {
    await createPayloadAdapter(t.db, 'Session').upsert('shared-id', { jti: 'shared-id', uid: 'uid-1', kind: 'Session' }, 60);
    expect(await createPayloadAdapter(t.db, 'Interaction').find('shared-id')).toBeUndefined();
  });

  it('honours expiresIn: find returns nothing once expired, and the sweep deletes the row', async () => {
    let clock = Date.now();
    const adapter = createPayloadAdapter(t.db, 'Interaction', () => clock);
    await adapter.upsert('soon-gone', { jti: 'soon-gone', kind: 'Interaction' }, 5);
    expect(await adapter.find('soon-gone')).toEqual({ jti: 'soon-gone', kind: 'Interaction' });
    clock += 6_000;
    expect(await adapter.find('soon-gone')).toBeUndefined();

    await createPayloadAdapter(t.db, 'Interaction', () => Date.now() - 10_000).upsert('long-gone', { jti: 'long-gone', kind: 'Interaction' }, 1);
    expect(await sweepExpired(t.db)).toBeGreaterThanOrEqual(1);
    const left = await t.db.oidcPayload.count({ where: { id: digest('long-gone') } });
    expect(left).toBe(0);
  });

  it('keeps rows without expiresIn forever', async () => {
    const adapter = createPayloadAdapter(t.db, 'Grant');
    await adapter.upsert('grant-forever', { jti: 'grant-forever', accountId: 'u1', kind: 'Grant' }, 0);
    expect(await adapter.find('grant-forever')).toMatchObject({ accountId: 'u1' });
  });

  it('upsert replaces the payload of an existing id', async () => {
    const adapter = createPayloadAdapter(t.db, 'Session');
    await adapter.upsert('sess-1', { jti: 'sess-1', uid: 'u-a', accountId: 'acc-1', kind: 'Session' }, 60);
    await adapter.upsert('sess-1', { jti: 'sess-1', uid: 'u-a', accountId: 'acc-2', kind: 'Session' }, 60);
    expect(await adapter.find('sess-1')).toMatchObject({ accountId: 'acc-2' });
  });

  it('finds by uid', async () => {
    const adapter = createPayloadAdapter(t.db, 'Session');
    await adapter.upsert('sess-uid', { jti: 'sess-uid', uid: 'the-uid', accountId: 'acc', kind: 'Session' }, 60);
    expect(await adapter.findByUid('the-uid')).toMatchObject({ uid: 'the-uid', accountId: 'acc' });
    expect(await adapter.findByUid('other-uid')).toBeUndefined();
  });

  it('finds by user code, which is stored hashed', async () => {
    const adapter = createPayloadAdapter(t.db, 'DeviceCode');
    await adapter.upsert('device-1', { jti: 'device-1', userCode: 'ABCD-EFGH', kind: 'DeviceCode' }, 60);
    expect(await adapter.findByUserCode('ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });
    expect(await adapter.findByUserCode('ZZZZ-ZZZZ')).toBeUndefined();
    const stored = await t.db.oidcPayload.findFirst({ where: { model: 'DeviceCode' } });
    expect(JSON.stringify(stored)).not.toContain('ABCD-EFGH');
  });

  it('marks a consumed row, and find reports it as consumed', async () => {
    const adapter = createPayloadAdapter(t.db, 'AuthorizationCode');
    await adapter.upsert('code-c', { jti: 'code-c', grantId: 'g-c', kind: 'AuthorizationCode' }, 60);
    await adapter.consume('code-c');
    const found = await adapter.find('code-c');
    expect(typeof found?.consumed).toBe('number');
  });

  it('lets exactly one of two concurrent consumes win; the loser gets invalid_grant and the grant is revoked', async () => {
    const code = createPayloadAdapter(t.db, 'AuthorizationCode');
    const tokens = createPayloadAdapter(t.db, 'AccessToken');
    await code.upsert('code-race', { jti: 'code-race', grantId: 'g-race', kind: 'AuthorizationCode' }, 60);
    await tokens.upsert('at-race', { jti: 'at-race', grantId: 'g-race', kind: 'AccessToken' }, 60);
    const results = await Promise.allSettled([code.consume('code-race'), code.consume('code-race'), code.consume('code-race')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(losers).toHaveLength(2);
    for (const loser of losers) expect(loser.reason).toMatchObject({ error: 'invalid_grant' });
    expect(await tokens.find('at-race')).toBeUndefined();
  });

  it('consuming a missing id fails with invalid_grant', async () => {
    await expect(createPayloadAdapter(t.db, 'RefreshToken').consume('never-issued')).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('destroy removes one row', async () => {
    const adapter = createPayloadAdapter(t.db, 'RefreshToken');
    await adapter.upsert('rt-1', { jti: 'rt-1', grantId: 'g-d', kind: 'RefreshToken' }, 60);
    await adapter.destroy('rt-1');
    expect(await adapter.find('rt-1')).toBeUndefined();
  });

  it("revokeByGrantId removes the model's rows of that grant and leaves other grants alone", async () => {
    const adapter = createPayloadAdapter(t.db, 'RefreshToken');
    await adapter.upsert('rt-a', { jti: 'rt-a', grantId: 'g-revoke', kind: 'RefreshToken' }, 60);
    await adapter.upsert('rt-b', { jti: 'rt-b', grantId: 'g-revoke', kind: 'RefreshToken' }, 60);
    await adapter.upsert('rt-c', { jti: 'rt-c', grantId: 'g-keep', kind: 'RefreshToken' }, 60);
    await adapter.revokeByGrantId('g-revoke');
    expect(await adapter.find('rt-a')).toBeUndefined();
    expect(await adapter.find('rt-b')).toBeUndefined();
    expect(await adapter.find('rt-c')).toBeDefined();
  });

  describe('requests of one event-loop turn share statements', () => {
    it('stores forty concurrent writes to two models with one statement, and reads them back with one', async () => {
      const sessions = createPayloadAdapter(t.db, 'Session');
      const tokens = createPayloadAdapter(t.db, 'ClientCredentials');
      const ids = Array.from({ length: 20 }, (_, i) => `turn-${i}`);
      const written = await statementsDuring(t.db, () =>
        Promise.all(
          ids.flatMap((id) => [
            sessions.upsert(id, { jti: id, accountId: `acc-${id}`, kind: 'Session' }, 60),
            tokens.upsert(id, { jti: id, clientId: `client-${id}`, kind: 'ClientCredentials' }, 60),
          ]),
        ),
      );
      expect(written).toBe(1);

      let found: unknown[] = [];
      const read = await statementsDuring(t.db, async () => {
        found = await Promise.all(ids.flatMap((id) => [sessions.find(id), tokens.find(id)]));
      });
      expect(read).toBe(1);
      // Each caller gets its own row, under its own model.
      expect(found).toEqual(
        ids.flatMap((id) => [expect.objectContaining({ jti: id, accountId: `acc-${id}` }), expect.objectContaining({ jti: id, clientId: `client-${id}` })]),
      );
      expect(found.filter((row) => (row as { kind: string }).kind === 'Session')).toHaveLength(20);
    });

    it('answers both of two writes to one row in one turn, and keeps the later one', async () => {
      const adapter = createPayloadAdapter(t.db, 'Session');
      await Promise.all([
        adapter.upsert('same-row', { jti: 'same-row', accountId: 'first', kind: 'Session' }, 60),
        adapter.upsert('same-row', { jti: 'same-row', accountId: 'second', kind: 'Session' }, 60),
      ]);
      expect(await adapter.find('same-row')).toMatchObject({ accountId: 'second' });
      expect(await t.db.oidcPayload.count({ where: { model: 'Session', id: digest('same-row') } })).toBe(1);
    });

    it("finds concurrent requests' sessions by uid with one statement, each its own, and nothing for an unknown uid or another model's", async () => {
      const sessions = createPayloadAdapter(t.db, 'Session');
      const interactions = createPayloadAdapter(t.db, 'Interaction');
      const uids = Array.from({ length: 10 }, (_, i) => `uid-turn-${i}`);
      for (const uid of uids) await sessions.upsert(`session-of-${uid}`, { jti: `session-of-${uid}`, uid, accountId: `acc-${uid}`, kind: 'Session' }, 60);
      await interactions.upsert('interaction-with-uid', { jti: 'interaction-with-uid', uid: 'interaction-uid', kind: 'Interaction' }, 60);

      let found: unknown[] = [];
      const read = await statementsDuring(t.db, async () => {
        found = await Promise.all([...uids, 'unknown-uid', 'interaction-uid'].map((uid) => sessions.findByUid(uid)));
      });
      expect(read).toBe(1);
      expect(found).toEqual([...uids.map((uid) => expect.objectContaining({ uid, accountId: `acc-${uid}` })), undefined, undefined]);
    });

    it('deletes rows that concurrent requests destroy, of two models, with one statement, and only those', async () => {
      const sessions = createPayloadAdapter(t.db, 'Session');
      const interactions = createPayloadAdapter(t.db, 'Interaction');
      for (const id of ['gone-1', 'gone-2', 'kept']) {
        await sessions.upsert(id, { jti: id, kind: 'Session' }, 60);
        await interactions.upsert(id, { jti: id, kind: 'Interaction' }, 60);
      }
      const deleted = await statementsDuring(t.db, () =>
        Promise.all([sessions.destroy('gone-1'), sessions.destroy('gone-2'), interactions.destroy('gone-1'), sessions.destroy('never-stored')]),
      );
      expect(deleted).toBe(1);
      expect(await sessions.find('gone-1')).toBeUndefined();
      expect(await sessions.find('gone-2')).toBeUndefined();
      expect(await interactions.find('gone-1')).toBeUndefined();
      // The same id under the other model, and ids nobody destroyed, are still there.
      expect(await interactions.find('gone-2')).toMatchObject({ jti: 'gone-2' });
      expect(await sessions.find('kept')).toMatchObject({ jti: 'kept' });
      expect(await interactions.find('kept')).toMatchObject({ jti: 'kept' });
    });

    it('answers concurrent finds of present, missing and other-model ids each on their own', async () => {
      const accessTokens = createPayloadAdapter(t.db, 'AccessToken');
      const refreshTokens = createPayloadAdapter(t.db, 'RefreshToken');
      await accessTokens.upsert('bearer-a', { jti: 'bearer-a', clientId: 'c-a', kind: 'AccessToken' }, 60);
      await refreshTokens.upsert('bearer-r', { jti: 'bearer-r', clientId: 'c-r', kind: 'RefreshToken' }, 60);
      const [a, aAsRefresh, r, missing] = await Promise.all([
        accessTokens.find('bearer-a'),
        refreshTokens.find('bearer-a'),
        refreshTokens.find('bearer-r'),
        accessTokens.find('bearer-missing'),
      ]);
      expect(a).toMatchObject({ jti: 'bearer-a', clientId: 'c-a' });
      expect(aAsRefresh).toBeUndefined();
      expect(r).toMatchObject({ jti: 'bearer-r', clientId: 'c-r' });
      expect(missing).toBeUndefined();
    });
  });
});
