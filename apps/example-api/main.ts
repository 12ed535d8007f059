import { startExampleApi } from './example-api.ts';

// Configured only by the environment: ISSUER (Gatehouse), AUDIENCE (this API's identifier), PORT,
// HOST, PUBLIC_URL (the URL callers use, which DPoP proofs name) when behind a proxy, and
// PDP_CLIENT_ID / PDP_CLIENT_SECRET (this API's client, allowed <ISSUER>/access/v1) for PUT /orders/:id.
const { ISSUER, AUDIENCE, PORT = '4000', HOST = '127.0.0.1', PUBLIC_URL, PDP_CLIENT_ID, PDP_CLIENT_SECRET } = process.env;
if (!ISSUER || !AUDIENCE) {
  process.stderr.write('example-api: set ISSUER and AUDIENCE\n');
  process.exit(78);
}
const api = await startExampleApi({
  issuer: ISSUER,
  audience: AUDIENCE,
  port: Number(PORT),
  host: HOST,
  publicUrl: PUBLIC_URL,
  ...(PDP_CLIENT_ID && PDP_CLIENT_SECRET && { pdpClient: { clientId: PDP_CLIENT_ID, clientSecret: PDP_CLIENT_SECRET } }),
  // Demonstration data: order 1 belongs to nobody in particular, so only a policy can let a caller update it.
  orders: { '1': { owner: 'user:nobody' } },
  onError: (error) => process.stderr.write(`example-api: cannot use ${ISSUER}'s metadata: ${(error as Error).message}\n`),
});
process.stdout.write(`example API at ${PUBLIC_URL ?? api.url} (audience ${AUDIENCE}, issuer ${ISSUER})\n`);
process.on('SIGTERM', () => void api.close().then(() => process.exit(0)));
process.on('SIGINT', () => void api.close().then(() => process.exit(0)));
