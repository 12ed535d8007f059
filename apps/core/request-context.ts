import { AsyncLocalStorage } from 'node:async_hooks';

/** What is known about the request being served, wherever its work runs. */
export interface RequestScope {
  requestId: string;
  path?: string;
  ip?: string;
  userAgent?: string;
  /** The client the request names (unverified) or, once authenticated, the client it is. */
  clientId?: string;
}

/**
 * The request in progress, carried across awaits: the logger stamps its id on every line and
 * the audit trail takes IP and user agent from it, without threading them through every call.
 */
export const requestScope = new AsyncLocalStorage<RequestScope>();
