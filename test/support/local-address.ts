import { Agent, request } from 'node:http';

export type Fetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * A `fetch` whose connections leave from `localAddress` (any of 127.0.0.0/8 is this machine), so
 * a test can play clients behind different addresses. Redirects are never followed (as with
 * `redirect: 'manual'`); the body may be a string or URLSearchParams. `close` ends its sockets.
 */
export function fetchFrom(localAddress: string): Fetch & { close(): void } {
  const agent = new Agent({ keepAlive: true, localAddress, maxSockets: 32 });
  const send: Fetch = (url, init = {}) =>
    new Promise((resolve, reject) => {
      const headers = Object.fromEntries(new Headers(init.headers));
      const body = init.body === undefined || init.body === null ? undefined : String(init.body);
      if (init.body instanceof URLSearchParams && !headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const req = request(url, { method: init.method ?? 'GET', agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const out = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          const status = res.statusCode ?? 0;
          const empty = [101, 204, 205, 304].includes(status);
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: out }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  return Object.assign(send, { close: () => agent.destroy() });
}
