import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { readBody, RequestAborted } from '../../apps/server/http/form-body.ts';

// The body reader every POST of ours goes through (AuthZEN evaluations, sign-in forms, the token
// endpoint's JWT parameters), against a real Node HTTP server and a client that misbehaves.
let server: Server;
let port: number;
let received: (req: IncomingMessage) => void;

beforeAll(async () => {
  server = createServer((req, res) => {
    received(req);
    res.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise((r) => server.close(r)));

/** Sends a request that declares `declared` bytes of body and sends `sent` of them, then hangs up. */
async function hangUp(declared: number, sent: number): Promise<IncomingMessage> {
  const arrived = new Promise<IncomingMessage>((r) => (received = r));
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n${'x'.repeat(sent)}`);
  const req = await arrived;
  return Object.assign(req, { hangUp: () => socket.destroy() });
}

describe('reading a request body', () => {
  it('fails, rather than waiting for ever, when the client hung up before the body was read', async () => {
    const req = (await hangUp(100, 10)) as IncomingMessage & { hangUp(): void };
    const closed = new Promise((r) => req.once('close', r));
    req.hangUp();
    await closed;
    await expect(readBody(req, 1024)).rejects.toBeInstanceOf(RequestAborted);
  });

  it('fails when the client hangs up while the body is being read', async () => {
    const req = (await hangUp(100, 10)) as IncomingMessage & { hangUp(): void };
    const reading = readBody(req, 1024);
    req.hangUp();
    await expect(reading).rejects.toBeInstanceOf(RequestAborted);
  });

  it('returns a whole body sent in pieces, a character split between them included', async () => {
    const arrived = new Promise<IncomingMessage>((r) => (received = r));
    const socket = connect(port, '127.0.0.1');
    const body = Buffer.from('abéc');
    socket.write(Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`), body.subarray(0, 3)]));
    const req = await arrived;
    const reading = readBody(req, 1024);
    await new Promise((r) => setTimeout(r, 20));
    socket.end(body.subarray(3));
    await expect(reading).resolves.toBe('abéc');
  });
});
