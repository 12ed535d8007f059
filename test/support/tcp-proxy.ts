import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder on loopback between the server and PostgreSQL, so a test can make the
 * database "go away" (every connection dropped, new ones refused) and come back.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((inbound) => {
        const outbound = connect(target.port, target.host);
        for (const s of [inbound, outbound]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        inbound.pipe(outbound).pipe(inbound);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });

  const cut = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server ? server.close(() => resolve()) : resolve();
      server = undefined;
    });

  await listen();
  // Restoring a proxy that is up must not open a second listener (the first would never close).
  const restore = () => (server ? Promise.resolve() : listen());
  return {
    get port() {
      return port;
    },
    cut,
    restore,
    close: cut,
  };
}
