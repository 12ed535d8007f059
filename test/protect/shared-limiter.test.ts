import { createSharedLimiter } from '../../apps/server/middleware/rate-limit.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

const limiter = (name: string, points: number) =>
  createSharedLimiter({ db: database.db, name, points, windowSeconds: 5, syncMs: 20, onError: (e) => { throw e; } });

describe('shared limiter (memory tier in front of PostgreSQL)', () => {
  it('allows exactly the limit out of a concurrent burst on one instance', async () => {
    const one = limiter('burst', 10);
    const decisions = await Promise.all(Array.from({ length: 40 }, () => one.consume('k')));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    await one.close();
  });

  it('adds every allowed request to the shared row, and never a rejected one', async () => {
    const one = limiter('written', 5);
    for (let i = 0; i < 8; i++) await one.consume('k');
    await one.close();
    const row = await database.db.rateLimit.findUniqueOrThrow({ where: { key: 'rl:written:k' } });
    expect(row.points).toBe(5);
  });

  it('shares one count between two instances taking turns', async () => {
    const a = limiter('turns', 6);
    const b = limiter('turns', 6);
    const allowed: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      allowed.push((await (i % 2 ? b : a).consume('k')).allowed);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(allowed.filter(Boolean)).toHaveLength(6);
    await Promise.all([a.close(), b.close()]);
  });
});
