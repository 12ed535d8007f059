import { randomBytes } from 'node:crypto';
import { Agent, METHODS, request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { scrapeMetrics } from '../support/prometheus.ts';

let database: TestDatabase;
let server: TestServer;

beforeAll(async () => {
  database = await createTestDatabase();
  // The limiter's 429s would add a status mid-run; this file is about labels, not limits.
  server = await startTestServer({ databaseUrl: database.url, env: { RATE_LIMIT_ENABLED: 'false' } });
});

afterAll(async () => {
  await server?.close();
  await database?.drop();
});

// Node's client sends any method token; CONNECT asks the server for a tunnel instead of a route.
const methods = METHODS.filter((m) => m !== 'CONNECT');
const countedMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'];

const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)];
const junk = (length: number) =>
  randomBytes(Math.ceil(length / 2))
    .toString('hex')
    .slice(0, length);

/** Sub-paths under the provider's prefixes that no route of oidc-provider or ours matches, and one of ours. */
const unmatchedForms = [
  (length: number) => `/session/end/${junk(length)}`,
  (length: number) => `/session/end/${junk(8)}/${junk(length)}`,
  (length: number) => `/auth/${junk(8)}/${junk(length)}`,
  (length: number) => `/${junk(length)}`,
];

const agent = new Agent({ keepAlive: true, maxSockets: 16 });
afterAll(() => agent.destroy());

function send(method: string, path: string): Promise<number> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: hostname, port, method, path }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends every request, sixteen at a time. */
async function sendAll(requests: Array<[method: string, path: string]>) {
  const queue = [...requests];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await send(...next);
    }),
  );
}

/**
 * Gatehouse's own series. The process and Node.js families are left out: their label sets
 * follow the process (a GC kind, a handle type appearing), not the requests.
 */
const ownSeries = async () => [...(await scrapeMetrics(server.url)).keys()].filter((key) => key.startsWith('gatehouse_'));
const labelValues = (series: string[], label: string) =>
  new Set(series.flatMap((key) => [...key.matchAll(new RegExp(`${label}="([^"]*)"`, 'g'))].map((m) => m[1])));

// Allowed at run time without --expose-gc: a context created after the flag is set gets `gc`.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('metric labels under requests to paths nobody routes (regression: attacker-chosen paths became label sets)', () => {
  it('keeps the number of series unchanged over 1,000 random unmatched provider sub-paths with random methods, and the heap flat', async () => {
    // Each method on each form first (the status differs by method): their series exist from then on.
    await sendAll(methods.flatMap((m) => unmatchedForms.map((form): [string, string] => [m, form(16)])));
    await ownSeries(); // a scrape is counted once it is answered
    const before = await ownSeries();

    server.logs.length = 0;
    server.rawLogs.length = 0;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    await sendAll(Array.from({ length: 1000 }, () => [pick(methods), pick(unmatchedForms)(2048 + Math.floor(Math.random() * 2048))]));
    // The test server keeps every log line in memory; they are not the server's to count.
    server.logs.length = 0;
    server.rawLogs.length = 0;
    gc();
    const grownBytes = process.memoryUsage().heapUsed - heapBefore;

    const after = await ownSeries();
    expect(after.filter((key) => !before.includes(key))).toEqual([]);
    expect(after.length).toBe(before.length);
    // 1,000 label sets with 2-4 KiB routes hold several MB; bounded labels leave only GC noise.
    expect(grownBytes).toBeLessThan(2 * 1024 * 1024);
  });

  it('labels unrouted paths unmatched and rare methods OTHER', async () => {
    const requests = (await ownSeries()).filter((key) => key.startsWith('gatehouse_http_requests_total{'));
    for (const route of labelValues(requests, 'route')) expect(route === 'unmatched' || route.startsWith('/')).toBe(true);
    expect(requests.some((key) => key.includes('route="unmatched"') && key.includes('method="OTHER"'))).toBe(true);
    for (const route of labelValues(requests, 'route')) expect(route.length).toBeLessThan(64);
    expect([...labelValues(requests, 'method')].filter((m) => !countedMethods.includes(m))).toEqual([]);
  });

  it('keeps route templates and fixed paths as labels', async () => {
    await send('GET', '/token');
    await send('POST', '/session/end/confirm');
    const requests = (await ownSeries()).filter((key) => key.startsWith('gatehouse_http_requests_total{'));
    expect(requests).toEqual(
      expect.arrayContaining([
        'gatehouse_http_requests_total{method="GET",route="/token",status="404"}',
        expect.stringMatching(/^gatehouse_http_requests_total\{method="POST",route="\/session\/end\/confirm",status="\d+"\}$/),
      ]),
    );
  });

  it('writes a bounded log line for a 16 KiB path, with the path cut and marked', async () => {
    const path = `/session/end/${junk(16 * 1024 - 200)}`;
    expect(await send('GET', path)).toBe(404);
    const line = server.rawLogs.find((l) => l.includes('"msg":"request"') && l.includes(path.slice(0, 100)))!;
    expect(line.length).toBeLessThan(1024);
    const logged = JSON.parse(line) as { path: string; route: string };
    expect(logged.route).toBe('unmatched');
    expect(logged.path).toBe(`${path.slice(0, 512)}…[${path.length - 512} more characters]`);
  });
});

describe('default process and Node.js metrics', () => {
  it("are published under the standard unprefixed names, beside Gatehouse's own prefixed families", async () => {
    const names = new Set([...(await scrapeMetrics(server.url)).keys()].map((key) => key.replace(/\{.*$/, '')));
    for (const name of [
      'process_cpu_seconds_total',
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_version_info',
    ]) {
      expect({ name, present: names.has(name) }).toEqual({ name, present: true });
    }
    expect([...names].filter((n) => n.startsWith('gatehouse_process_') || n.startsWith('gatehouse_nodejs_'))).toEqual([]);
    expect(names.has('gatehouse_http_requests_total')).toBe(true);
  });
});
