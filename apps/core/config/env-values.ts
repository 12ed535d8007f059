import { z } from 'zod';
import { parseRate, rateSyntax } from '../rate-limits/rate.ts';

// The kinds of value an environment variable holds. None carries a default: a variable's default
// is written once, as text, beside its description (env-schema.ts), and parsed like any value.

export const seconds = () => z.coerce.number().int().positive();
/** Seconds where 0 turns the cache off. */
export const secondsOrZero = () => z.coerce.number().int().min(0);
export const count = () => z.coerce.number().int().positive();
export const port = (min: 0 | 1) => z.coerce.number().int().min(min).max(65535);
export const flag = () => z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const rate = () =>
  z.string().transform((text, ctx) => {
    const parsed = parseRate(text);
    if (!parsed) ctx.addIssue({ code: 'custom', message: `expected ${rateSyntax}` });
    return parsed ?? { count: 1, per: 's' as const };
  });
export const burst = () => z.coerce.number().int().min(1).max(1_000_000);

const ipOrCidr = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)(\/\d{1,3})?$/;
export const addressList = () =>
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .refine((list) => list.every((p) => ipOrCidr.test(p)), 'expected comma-separated IP addresses or CIDR ranges');

export const cookieDomain = () =>
  z
    .string()
    .trim()
    .toLowerCase()
    .transform((v) => v.replace(/^\./, ''))
    .pipe(
      z
        .string()
        .regex(
          /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
          'expected a domain name of two labels or more, such as example.test',
        ),
    )
    .or(z.literal('').transform(() => undefined));

const isOrigin = (url: URL) => (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash && !url.username && !url.password;
export const origin = () =>
  z
    .url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' })
    .refine((u) => !URL.canParse(u) || isOrigin(new URL(u)), 'expected an origin with no path, query, fragment or user (Gatehouse serves at the root)');

/** An empty value counts as unset, so `NAME=` in an .env file does not set a blank secret. */
export const secret = (min: number) =>
  z
    .string()
    .min(min, `expected at least ${min} characters`)
    .or(z.literal('').transform(() => undefined));

/** Comma-separated; the first signs cookies and roots the CSRF key, so each must be a strong secret. */
export const cookieKeys = () =>
  z
    .string()
    .transform((v) => (v === '' ? undefined : v.split(',').map((k) => k.trim())))
    .refine(
      (keys) => !keys || keys.every((k) => k.length >= 32),
      'expected comma-separated keys of at least 32 characters each (an empty or short key would sign cookies)',
    );
