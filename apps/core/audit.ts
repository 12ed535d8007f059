import type { Database } from './database.ts';

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
  | 'client.created'
  | 'client.changed'
  | 'client.secret_rotated'
  | 'key.rotated'
  | 'user.created'
  | 'user.disabled'
  | 'user.unlocked';

export interface AuditEvent {
  type: AuditEventType;
  actor?: string;
  userId?: string;
  clientId?: string;
  ip?: string;
  userAgent?: string;
  details?: Record<string, unknown>;
}

/** Who and where a request came from, passed down to whatever records events for it. */
export interface RequestContext {
  ip?: string;
  userAgent?: string;
  clientId?: string;
}

export interface AuditLog {
  record(event: AuditEvent): Promise<void>;
}

export function createAuditLog(db: Database): AuditLog {
  return {
    async record(event) {
      await db.auditEvent.create({
        data: { ...event, userAgent: event.userAgent?.slice(0, 512), details: event.details as object | undefined },
      });
    },
  };
}
