import { connect } from 'node:net';
import { pdpCaller, startM2m, type M2mFixture } from '../support/m2m.ts';

let f: M2mFixture;
let token: string;
let closed: Promise<void> | undefined;

beforeAll(async () => {
  f = await startM2m({ POLICY_REFRESH_INTERVAL: '1' });
  await f.services.authz.policies.set('@id("everyone-reads") permit (principal, action == Action::"read", resource is order);');
  ({ token } = await pdpCaller(f));
});
afterAll(async () => {
  await (closed ?? f?.server.close());
  await f?.database.drop();
});

describe('stopping the server', () => {
  it('answers an evaluation that is in flight with its decision, not an error', async () => {
    const body = JSON.stringify({ subject: { type: 'user', id: 'someone' }, action: { name: 'read' }, resource: { type: 'order', id: '1' } });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    // The policy version is live, so the engine's thread has started, before the server is told to stop.
    const deadline = Date.now() + 5000;
    const permitted = async () =>
      ((await (await fetch(`${f.server.url}/access/v1/evaluation`, { method: 'POST', headers, body })).json()) as { decision: boolean }).decision;
    while (!(await permitted()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    const socket = connect(Number(new URL(f.server.url).port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let response = '';
    socket.on('data', (d) => (response += d));
    const ended = new Promise((r) => socket.once('close', r));
    socket.write(
      `POST /access/v1/evaluation HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
    );
    await new Promise((r) => setTimeout(r, 100));
    closed = f.server.close();
    await new Promise((r) => setTimeout(r, 100));
    socket.write(body.slice(10));
    await Promise.all([closed, ended]);
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response).toContain('"decision":true');
  });
});
