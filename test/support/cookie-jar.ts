/** Just enough of a browser's cookie handling to drive the sign-in pages with fetch. */
export interface CookieJar {
  fetch(url: string | URL, init?: RequestInit): Promise<Response>;
  get(name: string): string | undefined;
  clear(): void;
}

/** `send` is the fetch to use: a local-address one (local-address.ts) plays a client behind another address. */
export function createCookieJar(send: (url: string | URL, init?: RequestInit) => Promise<Response> = fetch): CookieJar {
  const cookies = new Map<string, string>();
  return {
    async fetch(url, init = {}) {
      const headers = new Headers(init.headers);
      if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
      const response = await send(url, { ...init, headers, redirect: 'manual' });
      for (const line of response.headers.getSetCookie()) {
        const [pair, ...attributes] = line.split(';');
        const [name, value] = [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()];
        const expired = attributes.some((a) => /^\s*max-age=0/i.test(a) || (/^\s*expires=/i.test(a) && new Date(a.split('=')[1]) < new Date()));
        if (expired || value === '') cookies.delete(name);
        else cookies.set(name, value);
      }
      return response;
    },
    get: (name) => cookies.get(name),
    clear: () => cookies.clear(),
  };
}
