import type Provider from 'oidc-provider';
import type { StoredToken } from '../../core/tokens/token-verifier.ts';

/**
 * An opaque access token from the provider's storage, as the token verifier reads it: only while
 * it is unexpired and, for a user's token, while its grant (the consent it was issued under) lives.
 */
export async function findStoredAccessToken(provider: Provider, value: string): Promise<StoredToken | undefined> {
  const token = (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value));
  if (!token || token.isExpired) return undefined;
  const { grantId } = token as { grantId?: string };
  if (grantId && !(await provider.Grant.find(grantId))) return undefined;
  return token as unknown as StoredToken;
}
