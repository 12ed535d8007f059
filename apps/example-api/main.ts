import { startExampleApi } from './example-api.ts';

// Configured only by the environment: ISSUER (Gatehouse), AUDIENCE (this API's identifier), PORT.
const { ISSUER, AUDIENCE, PORT = '4000', HOST = '127.0.0.1' } = process.env;
if (!ISSUER || !AUDIENCE) {
  process.stderr.write('example-api: set ISSUER and AUDIENCE\n');
  process.exit(78);
}
const api = await startExampleApi({ issuer: ISSUER, audience: AUDIENCE, port: Number(PORT), host: HOST });
process.stdout.write(`example API at ${api.url} (audience ${AUDIENCE}, issuer ${ISSUER})\n`);
process.on('SIGTERM', () => void api.close().then(() => process.exit(0)));
process.on('SIGINT', () => void api.close().then(() => process.exit(0)));
