import { startM2m, type M2mFixture } from '../support/m2m.ts';

let f: M2mFixture;
const url = (path: string) => `${f.server.issuer}${path}`;
const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(url(path), { method, headers });

beforeAll(async () => {
  f = await startM2m({ JWKS_MAX_AGE: '120', KEY_REFRESH_INTERVAL: '1' });
});
afterAll(() => f?.close());

describe.each([
  ['/.well-known/openid-configuration', 'issuer'],
  ['/.well-known/oauth-authorization-server', 'issuer'],
  ['/jwks', 'keys'],
])('GET %s caching', (path, member) => {
  it('answers 200 JSON with a strong ETag and Cache-Control: public, max-age=JWKS_MAX_AGE', async () => {
    const response = await get(path);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('public, max-age=120');
    expect(response.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(await response.json()).toHaveProperty(member);
  });

  it('answers the same ETag to every request while nothing changes', async () => {
    const [a, b] = await Promise.all([get(path), get(path)]);
    expect(a.headers.get('etag')).toBe(b.headers.get('etag'));
  });

  it('answers a matching If-None-Match with 304, no body, and the validators again', async () => {
    const etag = (await get(path)).headers.get('etag')!;
    const response = await get(path, { 'if-none-match': etag });
    expect(response.status).toBe(304);
    expect(await response.text()).toBe('');
    expect(response.headers.get('etag')).toBe(etag);
    expect(response.headers.get('cache-control')).toBe('public, max-age=120');
  });

  it.each([
    ['a weak validator', (etag: string) => `W/${etag}`],
    ['a list holding it', (etag: string) => `"other", ${etag}`],
    ['*', () => '*'],
  ])('answers If-None-Match with %s with 304 (RFC 9110 weak comparison)', async (_what, header) => {
    const etag = (await get(path)).headers.get('etag')!;
    expect((await get(path, { 'if-none-match': header(etag) })).status).toBe(304);
  });

  it('answers an If-None-Match that does not match with the full 200 body', async () => {
    const response = await get(path, { 'if-none-match': '"stale"' });
    expect(response.status).toBe(200);
    expect(await response.json()).toHaveProperty(member);
  });

  it('answers HEAD with the same validators and no body', async () => {
    const etag = (await get(path)).headers.get('etag');
    const response = await get(path, {}, 'HEAD');
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe(etag);
    expect(await response.text()).toBe('');
  });
});

describe('GET /jwks after a key rotation', () => {
  it('answers the previous ETag with 200 and the new key set once the instance has re-read the keys', async () => {
    const before = await get('/jwks');
    const etag = before.headers.get('etag')!;
    const kids = ((await before.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
    await f.services.keys.rotate();

    let response = await get('/jwks', { 'if-none-match': etag });
    for (let waited = 0; response.status === 304 && waited < 5000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      response = await get('/jwks', { 'if-none-match': etag });
    }
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).not.toBe(etag);
    const after = ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
    expect(after).toEqual(expect.arrayContaining(kids));
    expect(after.length).toBe(kids.length * 2);
  });
});
