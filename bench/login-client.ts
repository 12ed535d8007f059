// The login section's load generator: a browserless relying party and user agent in one, kept
// lean because on a 2-core machine it competes with the server for CPU (as wrk does for the m2m
// cases). node:http with keep-alive, one cookie map per login, PKCE S256, state and nonce; the ID
// token's signature, issuer, audience and nonce are verified with jose, and UserInfo's `sub`
// must match it. The integration tests (openid-client) are what show the flow is correct; this
// only has to do the same work as a real relying party, cheaply. Logins come from many people:
// each one is sent from the next of a pool of loopback addresses (127.0.2.x), as the server's
// per-address limits would see a crowd, not one machine.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { decode, field, formAction } from '../test/support/sso.ts';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface LoginClientOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  email: string;
  password: string;
  /** Sockets kept open to the server (one per login in flight is enough). */
  sockets: number;
  /** Loopback addresses the logins are sent from, in turn (default: 64 of 127.0.2.x). */
  localAddresses?: string[];
}

const random = () => randomBytes(32).toString('base64url');

/** One login's cookies: name → value, as the server last set them. */
class Cookies {
  private readonly values = new Map<string, string>();
  header() {
    return [...this.values].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  take(setCookie: string[] | undefined) {
    for (const line of setCookie ?? []) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a) || /^\s*max-age=0\s*$/i.test(a));
      if (expired) this.values.delete(name);
      else this.values.set(name, pair.slice(eq + 1).trim());
    }
  }
}

export async function createLoginClient(options: LoginClientOptions) {
  const addresses = options.localAddresses ?? Array.from({ length: 64 }, (_, i) => `127.0.2.${i + 1}`);
  // Consecutive logins use different addresses, so the ones in flight at once never share one.
  const agents = addresses.map(
    (localAddress) => new Agent({ keepAlive: true, maxSockets: Math.max(1, Math.ceil(options.sockets / addresses.length) + 1), localAddress }),
  );
  let turn = 0;
  const base = new URL(options.baseUrl);
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString('base64')}`;

  function send(agent: Agent, method: 'GET' | 'POST', url: URL, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent,
          headers: body ? { ...headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : headers,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  const json = async <T>(reply: Promise<Reply>, what: string): Promise<T> => {
    const { status, body } = await reply;
    if (status !== 200) throw new Error(`${what} answered ${status}: ${body.slice(0, 200)}`);
    return JSON.parse(body) as T;
  };

  const discovery = await json<{ issuer: string; authorization_endpoint: string; token_endpoint: string; userinfo_endpoint: string; jwks_uri: string }>(
    send(agents[0], 'GET', new URL('/.well-known/openid-configuration', base)),
    'discovery',
  );
  const jwks = createLocalJWKSet(await json<JSONWebKeySet>(send(agents[0], 'GET', new URL(discovery.jwks_uri)), 'JWKS'));

  /** authorize → login form → consent form → callback → token → userinfo, in a fresh cookie jar. */
  return async function login(): Promise<void> {
    const agent = agents[turn++ % agents.length];
    const cookies = new Cookies();
    const verifier = random();
    const state = random();
    const nonce = random();
    const authorize = new URL(discovery.authorization_endpoint);
    authorize.search = new URLSearchParams({
      client_id: options.clientId,
      redirect_uri: options.redirectUri,
      response_type: 'code',
      scope: 'openid profile email',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state,
      nonce,
    }).toString();

    let url = authorize;
    let reply = await send(agent, 'GET', url, { accept: 'text/html' });
    let callback: URL | undefined;
    const answered = { login: false, consent: false };
    for (let hops = 0; hops < 12 && !callback; hops++) {
      cookies.take(reply.headers['set-cookie']);
      const location = reply.headers.location;
      if (location) {
        url = new URL(location, url);
        if (url.origin !== base.origin) callback = url;
        else reply = await send(agent, 'GET', url, { accept: 'text/html', cookie: cookies.header() });
        continue;
      }
      const csrf = field(reply.body, 'csrf');
      const found = formAction(reply.body);
      const action = found && decode(found);
      let form: Record<string, string>;
      if (!answered.login && reply.body.includes('name="password"') && csrf && action) {
        form = { csrf, email: options.email, password: options.password };
        answered.login = true;
      } else if (!answered.consent && reply.body.includes('name="decision"') && csrf && action) {
        form = { csrf, decision: 'allow' };
        answered.consent = true;
      } else {
        throw new Error(`unexpected page ${reply.status}: ${reply.body.replace(/\s+/g, ' ').slice(0, 200)}`);
      }
      url = new URL(action, url);
      reply = await send(agent, 'POST', url, { accept: 'text/html', cookie: cookies.header() }, new URLSearchParams(form).toString());
    }
    if (!callback) throw new Error('the login did not reach the callback');
    if (!answered.login || !answered.consent) throw new Error('the login skipped the login or consent page');
    if (callback.searchParams.get('state') !== state) throw new Error('state mismatch');
    if (callback.searchParams.get('iss') !== discovery.issuer) throw new Error('iss missing or wrong (RFC 9207)');
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code: ${callback.search}`);

    const tokens = await json<{ access_token: string; id_token: string }>(
      send(
        agent,
        'POST',
        new URL(discovery.token_endpoint),
        { authorization: basic },
        new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: options.redirectUri, code_verifier: verifier }).toString(),
      ),
      'token endpoint',
    );
    const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer: discovery.issuer, audience: options.clientId });
    if (payload.nonce !== nonce) throw new Error('nonce mismatch');
    const userinfo = await json<{ sub: string }>(
      send(agent, 'GET', new URL(discovery.userinfo_endpoint), { authorization: `Bearer ${tokens.access_token}` }),
      'userinfo',
    );
    if (userinfo.sub !== payload.sub) throw new Error('userinfo sub differs from the ID token');
  };
}
