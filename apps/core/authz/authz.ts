import type { ApiService } from '../apis/api-service.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Database } from '../db/database.ts';
import { createDecisionPoint, type DecisionObservation } from './decision-point.ts';
import { createDirectory } from './directory.ts';
import { createLivePolicies } from './live-policies.ts';
import { createPolicyStore } from './policies.ts';
import { createThreadEngine } from './policy-engine.ts';
import { createPolicyQueries } from './policy-queries.ts';
import { createSubjectQueries } from './subject-queries.ts';
import { createSubjectReader } from './subject-reader.ts';
import { systemClock, type Clock } from '../clock.ts';

export interface AuthzOptions {
  db: Database;
  apis: Pick<ApiService, 'require'>;
  audit?: AuditLog;
  /** Who stored a policy version, when the audit log names nobody per event (`cli`). */
  actor?: string;
  /** How long a subject's groups, roles and attributes are served from memory (AUTHZ_CACHE_TTL). */
  subjectCacheSeconds: number;
  /** How often each instance looks for a new policy version (POLICY_REFRESH_INTERVAL). */
  policyRefreshSeconds: number;
  now?: Clock;
}

/**
 * Authorization: the directory (PIP), the policy store (PAP), the subject reader that tokens and
 * decisions share, and the decision point (PDP), which the server starts (its policy poller is
 * a timer, so the CLI, which never starts it, runs none).
 */
export function createAuthz({ db, apis, audit, actor, subjectCacheSeconds, policyRefreshSeconds, now = systemClock }: AuthzOptions) {
  const subjects = createSubjectReader({ queries: createSubjectQueries(db), ttlSeconds: subjectCacheSeconds, now });
  const policies = createPolicyStore({ queries: createPolicyQueries(db), audit, actor });
  return {
    subjects,
    directory: createDirectory({ db, apis, audit, onChange: subjects.clear }),
    policies,

    /**
     * Loads the live policy version and keeps following it, and evaluates on Cedar's own thread
     * (policy-engine.ts); `stop` ends the poller and the thread.
     */
    async startDecisionPoint({ onDecision, onError }: { onDecision?: (observation: DecisionObservation) => void; onError?: (error: unknown) => void } = {}) {
      const engine = createThreadEngine({ onError });
      const live = await createLivePolicies({ store: policies, refreshSeconds: policyRefreshSeconds, load: engine.load, onError });
      return {
        ...createDecisionPoint({ subjects, policies: live.current, engine, now, onDecision }),
        live,
        stop() {
          live.stop();
          engine.stop();
        },
      };
    },
  };
}

export type Authz = ReturnType<typeof createAuthz>;
