import { createHmac, timingSafeEqual } from 'node:crypto';

const MAX_LENGTH = 4096;

/**
 * Self-contained signed values for cookies: `v1.<base64url JSON>.<base64url HMAC-SHA-256>`, with
 * a key derived from each of COOKIE_KEYS for one `purpose` (an edge session cannot pass for a
 * sign-in state). The first key signs and every key verifies, so rotating COOKIE_KEYS signs
 * nobody out. Readable by whoever holds the cookie: they carry nothing secret.
 */
export function createSealer<T extends object>(cookieKeys: string[], purpose: string, isValid: (value: Record<string, unknown>) => boolean) {
  if (cookieKeys.length === 0) throw new Error('at least one cookie key is required');
  const keys = cookieKeys.map((key) => createHmac('sha256', key).update(`gatehouse ${purpose}`).digest());
  const mac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  return {
    seal(value: T): string {
      const data = `v1.${Buffer.from(JSON.stringify(value)).toString('base64url')}`;
      return `${data}.${mac(keys[0], data).toString('base64url')}`;
    },
    open(sealed: string | undefined): T | undefined {
      if (!sealed || sealed.length > MAX_LENGTH || !sealed.startsWith('v1.')) return undefined;
      const dot = sealed.lastIndexOf('.');
      if (dot <= 3) return undefined;
      const data = sealed.slice(0, dot);
      const given = Buffer.from(sealed.slice(dot + 1), 'base64url');
      const genuine = keys.some((key) => {
        const expected = mac(key, data);
        return given.length === expected.length && timingSafeEqual(given, expected);
      });
      if (!genuine) return undefined;
      try {
        const value = JSON.parse(Buffer.from(data.slice(3), 'base64url').toString()) as unknown;
        return value && typeof value === 'object' && isValid(value as Record<string, unknown>) ? (value as T) : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
