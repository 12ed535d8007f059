import type { AuditLog } from '../core/audit/audit-log.ts';
import { formatDate, table, UsageError, type Command, type Noun } from './output.ts';

type Needs = { audit: AuditLog };

const positiveInt = (raw: string, flag: string) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expects a positive whole number`);
  return n;
};

const tail: Command<Needs> = {
  summary: 'show the latest audit events, oldest first',
  options: {
    user: { type: 'string', field: 'userId', value: 'ID', description: 'only events about this user' },
    client: { type: 'string', field: 'clientId', value: 'ID', description: 'only events about this client' },
    limit: { type: 'string', field: 'limit', value: 'N', description: 'how many events (default 50)', parse: positiveInt },
  },
  async run({ fields }, { audit }) {
    const events = await audit.tail(fields as { userId?: string; clientId?: string; limit?: number });
    return {
      text: table(
        ['TIME', 'EVENT', 'ACTOR', 'USER', 'CLIENT', 'IP', 'DETAILS'],
        events.map((e) => [
          formatDate(e.at),
          e.type,
          e.actor ?? '-',
          e.userId ?? '-',
          e.clientId ?? '-',
          e.ip ?? '-',
          e.details ? JSON.stringify(e.details) : '-',
        ]),
      ),
      json: events,
    };
  },
};

export const audit: Noun = { summary: 'read the audit trail (logins, lockouts, tokens, consents, admin changes)', commands: { tail } };
