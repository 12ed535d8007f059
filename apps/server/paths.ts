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
  metrics: '/metrics',
  interaction: '/interaction/:uid',
  interactionUrl: (uid: string) => `/interaction/${encodeURIComponent(uid)}`,
  interactionLogin: '/interaction/:uid/login',
  interactionLoginUrl: (uid: string) => `/interaction/${encodeURIComponent(uid)}/login`,
  interactionConsent: '/interaction/:uid/consent',
  interactionConsentUrl: (uid: string) => `/interaction/${encodeURIComponent(uid)}/consent`,
  stylesheet: '/static/gatehouse.css',
  authzenMetadata: '/.well-known/authzen-configuration',
  /** Gatehouse's own API, the audience of a token that may ask the policy decision point. */
  accessApi: '/access/v1',
  accessEvaluation: '/access/v1/evaluation',
  accessEvaluations: '/access/v1/evaluations',
  // Edge authorization for API gateways (gateway/): decisions, then the browser's sign-in at the edge.
  edgeAuthRequest: '/edge/v1/auth-request',
  edgeForwardAuth: '/edge/v1/forward-auth',
  edgeExtAuthz: '/edge/v1/ext-authz',
  edgeSignIn: '/edge/v1/sign-in',
  edgeCallback: '/edge/v1/callback',
  edgeSignOut: '/edge/v1/sign-out',
  ...providerRoutes,
} as const;

const providerPaths = new Set<string>([paths.discovery, paths.oauthMetadata, ...Object.values(providerRoutes)]);

/** Whether oidc-provider owns this path (its own sub-paths, like /session/end/confirm and /auth/:uid, included). */
export const isProviderPath = (path: string) =>
  providerPaths.has(path) ||
  path.startsWith(`${providerRoutes.end_session}/`) ||
  // where a finished interaction resumes the authorization request (/auth/:uid)
  path.startsWith(`${providerRoutes.authorization}/`);
