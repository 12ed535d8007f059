// The policy engine's worker thread (policy-engine.ts's createThreadEngine): Cedar, and nothing else.
import { parentPort } from 'node:worker_threads';
import { authorizeAll, parsePolicies, preparse, type CedarRequest, type ParsedPolicy, type StopAt } from './cedar-engine.ts';
import type { ThreadReply } from './policy-engine.ts';

type Message = { prepare: ParsedPolicy[] } | { id: number; load: string } | { id: number; setId: string; requests: (CedarRequest | null)[]; stopAt: StopAt };

const reply = (message: ThreadReply) => parentPort!.postMessage(message);

/** Parses and preparses a set; a set Cedar refuses leaves its requests denied with Cedar's reason (cedar-engine.ts). */
function prepare(policies: ParsedPolicy[]): string | undefined {
  try {
    preparse(policies);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

// Loaded outside a thread too, when the compile cache is filled (scripts/compile-cache.js): then it listens to nothing.
parentPort?.on('message', (message: Message) => {
  if ('prepare' in message) return void prepare(message.prepare);
  if ('load' in message) {
    const parsed = parsePolicies(message.load);
    if (!parsed.ok) return reply({ id: message.id, failed: parsed.message });
    const refused = prepare(parsed.policies);
    return reply(refused ? { id: message.id, failed: refused } : { id: message.id, policies: parsed.policies });
  }
  reply({ id: message.id, answers: authorizeAll(message.setId, message.requests, message.stopAt) });
});
