/** Every path the server answers. Routes are built from here, never by concatenation elsewhere. */
export const providerRoutes = {
  authorization: '/auth',
  token: '/token',
  userinfo: '/me',
  jwks: '/jwks',
  end_session: '/session/end',
  introspection: '/token/introspection',
  revocation: '/token/revocation',
  pushed_authorization_request: '/request',
} as const;

export const paths = {
  discovery: '/.well-known/openid-configuration',
  oauthMetadata: '/.well-known/oauth-authorization-server',
  healthz: '/healthz',
  readyz: '/readyz',
  interaction: '/interaction/:uid',
  interactionUrl: (uid: string) => `/interaction/${encodeURIComponent(uid)}`,
  ...providerRoutes,
} as const;

const providerPaths = new Set<string>([paths.discovery, paths.oauthMetadata, ...Object.values(providerRoutes)]);

/** Whether oidc-provider owns this path (its own sub-paths, like /session/end/confirm, included). */
export const isProviderPath = (path: string) =>
  providerPaths.has(path) || path.startsWith(`${providerRoutes.end_session}/`);
