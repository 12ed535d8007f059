import { hash } from 'node:crypto';

/**
 * SHA-256, base64url: how a bearer value (a code, an opaque token, a session id) is stored and
 * referred to, so that neither a database dump nor a reference to it can be used as the value.
 */
export const digest = (value: string) => hash('sha256', value, 'base64url');
