import { createDatabase } from '../../apps/core/db/database.ts';
import { createBuckets } from '../../apps/core/rate-limits/buckets.ts';
import { createRateLimitQueries } from '../../apps/core/rate-limits/queries.ts';
import { parseRate, type Limit } from '../../apps/core/rate-limits/rate.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const limit = (rate: string, burst: number): Limit => ({ rate: parseRate(rate)!, burst });
const open: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  for (const buckets of open.splice(0)) await buckets.close();
});

describe('token buckets on one instance (a clock of the test)', () => {
  let at = 1_000_000;
  const local = () => {
    const buckets = createBuckets({ syncMs: 1000, now: () => at });
    open.push(buckets);
    return buckets;
  };

  it('allows the burst at once, then one request per interval of the rate', () => {
    const buckets = local();
    const tenPerSecond = limit('10/s', 5);
    expect(Array.from({ length: 6 }, () => buckets.take('r', 'k', tenPerSecond).allowed)).toEqual([true, true, true, true, true, false]);
    expect(buckets.take('r', 'k', tenPerSecond)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    at += 100;
    expect([buckets.take('r', 'k', tenPerSecond).allowed, buckets.take('r', 'k', tenPerSecond).allowed]).toEqual([true, false]);
    expect(buckets.take('r', 'other', tenPerSecond).allowed).toBe(true);
    expect(buckets.take('other rule', 'k', tenPerSecond).allowed).toBe(true);
  });

  it('says how long until one more request fits, in whole seconds', () => {
    const buckets = local();
    const sixPerMinute = limit('6/m', 2);
    buckets.take('r', 'k', sixPerMinute);
    buckets.take('r', 'k', sixPerMinute);
    expect(buckets.check('r', 'k', sixPerMinute)).toEqual({ allowed: false, retryAfterSeconds: 10 });
    at += 9_500;
    expect(buckets.check('r', 'k', sixPerMinute)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    at += 500;
    expect(buckets.check('r', 'k', sixPerMinute).allowed).toBe(true);
  });

  it('spends nothing on a check, and never more than an empty bucket on a spend', () => {
    const buckets = local();
    const onePerSecond = limit('1/s', 3);
    for (let i = 0; i < 10; i++) expect(buckets.check('r', 'k', onePerSecond).allowed).toBe(true);
    for (let i = 0; i < 10; i++) buckets.spend('r', 'k', onePerSecond);
    expect(buckets.check('r', 'k', onePerSecond)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    at += 1000;
    expect(buckets.check('r', 'k', onePerSecond).allowed).toBe(true);
  });

  it('counts what a key spent in requests when its limit changes (a quota raised)', () => {
    const buckets = local();
    for (let i = 0; i < 50; i++) buckets.spend('client', 'heavy', limit('1/s', 50));
    expect(buckets.check('client', 'heavy', limit('1/s', 50)).allowed).toBe(false);
    expect(buckets.check('client', 'heavy', limit('500/s', 200)).allowed).toBe(true);
    expect(buckets.check('client', 'heavy', limit('500/s', 50)).allowed).toBe(false);
  });
});

describe('token buckets shared through PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  const instance = (
    onError = (error: unknown) => {
      throw error;
    },
  ) => {
    const buckets = createBuckets({ queries: createRateLimitQueries(database.db), syncMs: 60_000, onError });
    open.push(buckets);
    return buckets;
  };
  // Rows are named `<key>@<limit>` (buckets.ts rowKeyOf); these tests each use one limit per key.
  const rows = async () =>
    Object.fromEntries((await database.db.rateLimitBucket.findMany()).map((row) => [row.key.slice(0, row.key.lastIndexOf('@')), Number(row.tatMs)]));
  const slow = limit('1/m', 10);

  it('writes only the keys that spent more than half their burst', async () => {
    const a = instance();
    a.take('r', 'quiet', slow);
    for (let i = 0; i < 5; i++) a.take('r', 'half', slow);
    for (let i = 0; i < 6; i++) a.take('r', 'busy', slow);
    await a.sync();
    const written = await rows();
    expect(Object.keys(written).filter((key) => key.startsWith('r:'))).toEqual(['r:busy']);
    // Six requests at one a minute: the bucket is full again six minutes from now.
    expect(written['r:busy'] - Date.now()).toBeGreaterThan(5.9 * 60_000);
    expect(written['r:busy'] - Date.now()).toBeLessThanOrEqual(6 * 60_000);
  });

  it('brings back what another instance spent, so the two share one burst', async () => {
    const [a, b] = [instance(), instance()];
    for (let i = 0; i < 6; i++) a.take('shared', 'k', slow);
    await a.sync();
    await b.sync();
    expect(Array.from({ length: 5 }, () => b.take('shared', 'k', slow).allowed)).toEqual([true, true, true, true, false]);
    await b.sync();
    await a.sync();
    expect(a.take('shared', 'k', slow).allowed).toBe(false);
  });

  it('adds to the shared row only what has not refilled, and never the same spending twice', async () => {
    const a = instance();
    for (let i = 0; i < 6; i++) a.take('twice', 'k', slow);
    await a.sync();
    await a.sync();
    await a.sync();
    expect((await rows())['twice:k'] - Date.now()).toBeLessThanOrEqual(6 * 60_000);
  });

  it('sweeps the rows of buckets that are full again', async () => {
    const queries = createRateLimitQueries(database.db);
    const a = instance();
    for (let i = 0; i < 3; i++) a.take('sweep', 'k', limit('10/s', 4));
    await a.sync();
    const fullAgainAt = (await rows())['sweep:k'];
    await queries.sweep(fullAgainAt - 1);
    expect((await rows())['sweep:k']).toBe(fullAgainAt);
    expect(await queries.sweep(fullAgainAt)).toBeGreaterThanOrEqual(1);
    expect((await rows())['sweep:k']).toBeUndefined();
  });

  it('keeps limiting alone when PostgreSQL cannot be reached, and reports it', async () => {
    const unreachable = createDatabase({ url: 'postgresql://nobody:nothing@127.0.0.1:9/none', poolMax: 1 });
    const errors: unknown[] = [];
    const buckets = createBuckets({ queries: createRateLimitQueries(unreachable), syncMs: 60_000, onError: (error) => errors.push(error) });
    open.push(buckets);
    for (let i = 0; i < 10; i++) expect(buckets.take('r', 'k', slow).allowed).toBe(true);
    await buckets.sync();
    expect(errors).toHaveLength(1);
    expect(buckets.take('r', 'k', slow).allowed).toBe(false);
    await buckets.close();
    await unreachable.$disconnect();
  });
});
