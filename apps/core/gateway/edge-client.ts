import { isDeepStrictEqual } from 'node:util';
import type { Database } from '../db/database.ts';

/** The client the edge signs browsers in as: a first-party client of its own issuer. */
export const EDGE_CLIENT_ID = 'gatehouse-edge';

/**
 * The edge's client registration, written at start so that it follows ISSUER. It is a public
 * client (no secret exists to leak or rotate): its only redirect URI is Gatehouse's own
 * callback, PKCE binds each code to the browser that started the sign-in, and it may use no
 * grant but authorization_code. First-party: the sign-in asks no consent.
 */
export function edgeClientMetadata(redirectUri: string): Record<string, unknown> {
  return {
    client_id: EDGE_CLIENT_ID,
    client_name: 'Gatehouse edge sign-in',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [],
    token_endpoint_auth_method: 'none',
    scope: 'openid profile email',
  };
}

/** Registers (or brings up to date) the edge client; concurrent starts of several instances agree. */
export async function ensureEdgeClient(db: Database, redirectUri: string): Promise<'created' | 'updated' | 'unchanged'> {
  const metadata = edgeClientMetadata(redirectUri);
  const existing = await db.client.findUnique({ where: { id: EDGE_CLIENT_ID }, select: { metadata: true, firstParty: true } });
  if (existing?.firstParty && isDeepStrictEqual(existing.metadata, metadata)) return 'unchanged';
  await db.$executeRaw`INSERT INTO clients (id, name, metadata, first_party, updated_at)
    VALUES (${EDGE_CLIENT_ID}, ${metadata.client_name as string}, ${JSON.stringify(metadata)}::jsonb, true, now())
    ON CONFLICT (id) DO UPDATE SET metadata = EXCLUDED.metadata, first_party = true, name = EXCLUDED.name, updated_at = now()`;
  return existing ? 'updated' : 'created';
}
