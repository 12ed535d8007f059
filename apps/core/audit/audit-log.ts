import { systemClock, type Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { createAuditQueries, type AuditQueries, type AuditRow } from './audit-queries.ts';

/** Every kind of event the audit trail records. Never a token, code, secret or password. */
export type AuditEventType =
  | 'login.succeeded'
  | 'login.failed'
  | 'login.locked_out'
  | 'consent.granted'
  | 'consent.revoked'
  | 'token.issued'
  | 'token.revoked'
  | 'refresh_token.reuse_detected'
  | 'authorization_code.reuse_detected'
  | 'client.created'
  | 'client.changed'
  | 'client.secret_rotated'
  | 'key.rotated'
  | 'api.created'
  | 'api.changed'
  | 'authz.denied'
  | 'api.client_allowed'
  | 'api.exchange_allowed'
  | 'api.resource_server_added'
  | 'edge_route.added'
  | 'edge_route.removed'
  | 'user.created'
  | 'user.disabled'
  | 'user.unlocked'
  | 'user.changed'
  | 'group.created'
  | 'group.member_added'
  | 'group.member_removed'
  | 'role.created'
  | 'role.deleted'
  | 'role.assigned'
  | 'role.unassigned'
  | 'policy.set'
  | 'policy.rolled_back';

export interface AuditEvent extends Omit<AuditRow, 'at' | 'type'> {
  type: AuditEventType;
}

/** Who and where a request came from, passed down to whatever records events for it. */
export interface RequestContext {
  ip?: string;
  userAgent?: string;
  clientId?: string;
}

export interface AuditRecord extends AuditEvent {
  id: string;
  at: Date;
}

export interface AuditLog {
  /**
   * Queues an event; it is written with others in one INSERT within `batchMs`. Never throws:
   * a failed write is reported to `onError`, because an audit write must not fail a login or
   * a token request. Await the promise only where the row must exist afterwards.
   */
  record(event: AuditEvent): Promise<void>;
  /** The latest events, oldest first, optionally for one user or client. */
  tail(filter?: { userId?: string; clientId?: string; limit?: number }): Promise<AuditRecord[]>;
  /** Deletes events older than `retentionDays`; returns how many. */
  sweep(retentionDays: number): Promise<number>;
  /** Writes whatever is queued. */
  flush(): Promise<void>;
}

export interface AuditLogOptions {
  /** Who acts when an event names nobody: `cli` for the command line, `system` by default. */
  actor?: string;
  /** Where the request's IP and user agent come from when an event does not carry them. */
  context?: () => RequestContext | undefined;
  /** Called for every event as it is recorded (metrics count logins and lockouts this way). */
  onEvent?: (event: AuditEvent) => void;
  onError?: (error: unknown) => void;
  batchMs?: number;
  now?: Clock;
}

const MAX_BATCH = 200;

type Row = AuditEvent & { at: Date };

/**
 * Identical events of one batch (the same type, actor, client, IP, user agent and details: in
 * practice a service fetching client_credentials tokens in a loop) become one row with
 * `details.count`, stamped with the first one's time. Events about a user carry their grant,
 * so they stay one row each.
 */
function coalesce(rows: Row[]): Row[] {
  const groups = new Map<string, { row: Row; count: number }>();
  for (const row of rows) {
    const { at: _at, ...rest } = row;
    const key = JSON.stringify(rest);
    const group = groups.get(key);
    if (group) group.count++;
    else groups.set(key, { row, count: 1 });
  }
  return [...groups.values()].map(({ row, count }) => (count === 1 ? row : { ...row, details: { ...row.details, count } }));
}

/**
 * The audit trail. `storage`: its queries, or a database to make them on. Events are queued
 * and written in batches (`batchMs`).
 */
export function createAuditLog(storage: AuditQueries | Database, options: AuditLogOptions = {}): AuditLog {
  const queries = 'insert' in storage ? storage : createAuditQueries(storage);
  const { actor = 'system', context = () => undefined, onEvent = () => {}, onError = () => {}, batchMs = 20, now = systemClock } = options;
  let queue: Array<{ row: AuditEvent & { at: Date }; done: () => void }> = [];
  let timer: NodeJS.Timeout | undefined;

  async function flush(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    while (queue.length) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(MAX_BATCH);
      try {
        await queries.insert(coalesce(batch.map(({ row }) => row)));
      } catch (error) {
        onError(error);
      }
      for (const { done } of batch) done();
    }
  }

  return {
    record(event) {
      const request = context();
      const row = { actor, ip: request?.ip, userAgent: request?.userAgent, ...event, at: new Date(now()) };
      try {
        onEvent(row);
      } catch (error) {
        onError(error);
      }
      return new Promise<void>((resolve) => {
        queue.push({ row, done: resolve });
        if (queue.length >= MAX_BATCH) void flush();
        else timer ??= setTimeout(() => void flush(), batchMs);
      });
    },

    async tail({ userId, clientId, limit = 50 } = {}) {
      await flush();
      const rows = await queries.latest({ userId, clientId, limit: Math.min(Math.max(limit, 1), 10_000) });
      return rows.map((row) => ({ ...row, type: row.type as AuditEventType }));
    },

    async sweep(retentionDays) {
      const cutoff = new Date(now() - retentionDays * 24 * 3600 * 1000);
      return queries.deleteBefore(cutoff);
    },

    flush,
  };
}
