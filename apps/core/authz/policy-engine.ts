import { getCompileCacheDir } from 'node:module';
import { Worker } from 'node:worker_threads';
import { systemClock, type Clock } from '../clock.ts';
import { authorizeAll, preparse, type CedarRequest, type ParsedPolicy, type StopAt, type TimedAnswer } from './cedar-engine.ts';
import { fixedPolicySet, policySetOf, unparsable, type PolicySet } from './live-policies.ts';

/** A policy set as the engine takes it: Cedar's name for it and its policies. */
export interface EngineSet {
  setId: string;
  policies: ParsedPolicy[];
}

/**
 * Where Cedar runs: `decide` answers requests in order against a set (cedar-engine.ts's
 * `authorizeAll`, with its `null` and `stopAt` rules), preparsing the set first if this engine has
 * not seen it.
 */
export interface PolicyEngine {
  /** A stored version's text, parsed where Cedar runs. */
  load(version: number, text: string): Promise<PolicySet>;
  decide(set: EngineSet, requests: (CedarRequest | null)[], stopAt: StopAt): Promise<(TimedAnswer | null)[]>;
  stop(): void;
}

/** Cedar on the calling thread: for the CLI (`gatehouse policy test`), tests and measurements. */
export function createInProcessEngine(): PolicyEngine {
  const prepared = new WeakSet<EngineSet>();
  return {
    load: async (version, text) => fixedPolicySet(version, text),
    async decide(set, requests, stopAt) {
      if (!prepared.has(set)) {
        preparse(set.policies);
        prepared.add(set);
      }
      return authorizeAll(set.setId, requests, stopAt);
    },
    stop() {},
  };
}

/** The thread's answer to a message with an id (engine-thread.ts). */
export type ThreadReply = { id: number } & ({ answers: (TimedAnswer | null)[] } | { policies: ParsedPolicy[] } | { failed: string });

/**
 * Cedar on a worker thread of its own, so that evaluating policies, which costs about as much
 * CPU as everything else a decision needs, runs beside the event loop rather than on it: HTTP,
 * token checks and sign-ins go on while a decision is evaluated, and a process uses a second core.
 * The thread parses policy versions too, so the main thread never loads Cedar. It starts when
 * first needed (a process with no policies in force never starts it) and, should it die, again
 * on a call a second later; what was waiting on it fails, as do calls in between and after
 * `stop`. Messages reach the thread in order, so a set sent before a request is preparsed when
 * the request is answered.
 */
export function createThreadEngine({ onError = () => {}, now = systemClock }: { onError?: (error: unknown) => void; now?: Clock } = {}): PolicyEngine {
  type Waiter = { resolve: (reply: ThreadReply) => void; reject: (error: Error) => void };
  let current: { thread: Worker; sent: Set<string>; waiting: Map<number, Waiter> } | undefined;
  let nextId = 0;
  let stopped = false;
  // A thread that died is started again on the next call, but not sooner than this: one that
  // cannot start must not be started again for every request.
  let restartAt = 0;
  const RESTART_DELAY_MS = 1000;

  /** The running thread, or a new one; refuses after `stop` and while a dead thread waits its delay. */
  function running() {
    if (current) return current;
    if (stopped) throw new Error('the policy engine has stopped');
    if (now() < restartAt) throw new Error('the policy engine thread stopped and restarts shortly');
    current = start();
    return current;
  }

  function start() {
    // A thread strips our TypeScript's types with a compiler of its own (about 17 MB) unless its
    // modules come from the compile cache this process uses (server/compile-cache.js). Its
    // JavaScript only passes messages to and from Cedar: a small young generation is plenty.
    const cacheDir = getCompileCacheDir();
    const thread = new Worker(new URL('./engine-thread.ts', import.meta.url), {
      ...(cacheDir && { env: { ...process.env, NODE_COMPILE_CACHE: cacheDir } }),
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
    const started = { thread, sent: new Set<string>(), waiting: new Map<number, Waiter>() };
    // An idle thread does not keep the process alive; one with answers to give does (ask).
    thread.unref();
    thread.on('message', (reply: ThreadReply) => {
      const waiter = started.waiting.get(reply.id);
      started.waiting.delete(reply.id);
      if (!started.waiting.size) thread.unref();
      waiter?.resolve(reply);
    });
    thread.on('error', onError);
    thread.on('exit', () => {
      if (current === started) {
        current = undefined;
        restartAt = now() + RESTART_DELAY_MS;
      }
      for (const waiter of started.waiting.values()) waiter.reject(new Error('the policy engine thread stopped'));
      started.waiting.clear();
    });
    return started;
  }

  function ask(engine: NonNullable<typeof current>, message: object): Promise<ThreadReply> {
    const id = nextId++;
    // Posted first: a message that cannot be sent throws here, with nothing left waiting.
    engine.thread.postMessage({ id, ...message });
    return new Promise((resolve, reject) => {
      if (!engine.waiting.size) engine.thread.ref();
      engine.waiting.set(id, { resolve, reject });
    });
  }

  return {
    async load(version, text) {
      if (!text.trim()) return fixedPolicySet(version, text);
      const engine = running();
      const reply = await ask(engine, { load: text });
      if ('failed' in reply) throw unparsable(version, reply.failed);
      if (!('policies' in reply)) throw new Error('the policy engine thread answered a load with something else');
      const set = policySetOf(version, reply.policies);
      engine.sent.add(set.setId);
      return set;
    },

    async decide(set, requests, stopAt) {
      // The empty set denies everything without Cedar (cedar-engine.ts): no thread for it.
      if (!set.policies.length) return authorizeAll(set.setId, requests, stopAt);
      const engine = running();
      if (!engine.sent.has(set.setId)) {
        // A set loaded on this thread, or before the thread restarted.
        engine.thread.postMessage({ prepare: set.policies });
        engine.sent.add(set.setId);
      }
      const reply = await ask(engine, { setId: set.setId, requests, stopAt });
      if (!('answers' in reply)) throw new Error('the policy engine thread answered a decision with something else');
      return reply.answers;
    },

    stop() {
      stopped = true;
      void current?.thread.terminate();
      current = undefined;
    },
  };
}
