import { createSessionQueries, type SessionQueries } from '../../apps/core/sessions/session-queries.ts';
import { createUserQueries } from '../../apps/core/users/user-queries.ts';
import { createPayloadAdapter } from '../../apps/server/provider/payload-adapter.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
let sessions: SessionQueries;
beforeAll(async () => {
  t = await createTestDatabase();
  sessions = createSessionQueries(t.db);
});
afterAll(() => t.drop());

/** What the provider stores for an account, written the way it writes it (through the payload adapter). */
async function storeFor(accountId: string | undefined, prefix: string) {
  const write = (model: string, id: string, payload: Record<string, unknown>) =>
    createPayloadAdapter(t.db, model).upsert(id, { jti: id, kind: model, ...payload }, 600);
  await write('Session', `${prefix}-session`, { uid: `${prefix}-uid`, ...(accountId && { accountId }) });
  await write('Grant', `${prefix}-grant`, { clientId: 'c', ...(accountId && { accountId }) });
  await write('AccessToken', `${prefix}-at`, { grantId: `${prefix}-grant`, clientId: 'c', ...(accountId && { accountId }) });
  await write('RefreshToken', `${prefix}-rt`, { grantId: `${prefix}-grant`, clientId: 'c', ...(accountId && { accountId }) });
}
const rowsOf = (accountId: string) => t.db.oidcPayload.count({ where: { accountId } });

describe('session queries (oidc_payloads by account)', () => {
  it('ends every session, grant and token stored for the account, answering how many, and nothing of anyone else', async () => {
    await storeFor('acc-ended', 'ended');
    await storeFor('acc-kept', 'kept');
    await storeFor(undefined, 'anonymous');
    const before = await t.db.oidcPayload.count();

    expect(await sessions.endForAccount('acc-ended')).toBe(4);
    expect(await rowsOf('acc-ended')).toBe(0);
    expect(await rowsOf('acc-kept')).toBe(4);
    expect(await t.db.oidcPayload.count()).toBe(before - 4);
    expect(await createPayloadAdapter(t.db, 'Session').findByUid('ended-uid')).toBeUndefined();
    expect(await createPayloadAdapter(t.db, 'Session').findByUid('kept-uid')).toMatchObject({ accountId: 'acc-kept' });
  });

  it('answers 0 for an account with nothing stored', async () => {
    expect(await sessions.endForAccount('acc-never-seen')).toBe(0);
  });

  it('runs inside a transaction it is given, and ends nothing when that transaction rolls back', async () => {
    await storeFor('acc-tx', 'tx');
    await expect(
      t.db.$transaction(async (tx) => {
        expect(await sessions.endForAccount('acc-tx', tx)).toBe(4);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await rowsOf('acc-tx')).toBe(4);

    await t.db.$transaction((tx) => sessions.endForAccount('acc-tx', tx));
    expect(await rowsOf('acc-tx')).toBe(0);
  });

  it("ends an account's sessions together with disabling it (users.disable), or neither", async () => {
    const users = createUserQueries(t.db);
    const user = (await users.create({ email: 'sessions@example.test', passwordHash: 'placeholder' }))!;
    await storeFor(user.id, 'disabled-user');
    await users.disable(user.id, (tx) => sessions.endForAccount(user.id, tx));
    expect(await rowsOf(user.id)).toBe(0);
    expect((await users.find(user.id))?.disabled).toBe(true);

    const other = (await users.create({ email: 'sessions-kept@example.test', passwordHash: 'placeholder' }))!;
    await storeFor(other.id, 'enabled-user');
    await expect(
      users.disable(other.id, async (tx) => {
        await sessions.endForAccount(other.id, tx);
        throw new Error('failed after the delete');
      }),
    ).rejects.toThrow('failed after the delete');
    expect(await rowsOf(other.id)).toBe(4);
    expect((await users.find(other.id))?.disabled).toBe(false);
  });
});
