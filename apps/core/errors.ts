/**
 * The one application error model. `code` is stable and machine-readable
 * (`user.email_taken`), `message` may be shown to the caller, `detail` is for logs only.
 * server/http/errors.ts renders it.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail?: string;

  constructor(code: string, message: string, options: { status?: number; detail?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? 400;
    this.detail = options.detail;
  }

  /** Whether `message` may be shown to whoever made the request. */
  get expose(): boolean {
    return this.status < 500;
  }
}

export const notFound = (what: string, id: string) => new AppError(`${what}.not_found`, `no ${what} with id ${id}`, { status: 404 });

/** "1 second", "10 seconds": a wait, in words. */
export const waitText = (seconds: number) => (seconds === 1 ? '1 second' : `${seconds} seconds`);

/** Too many requests: the caller may try again after `retryAfterSeconds`. */
export class RateLimited extends AppError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super('rate_limited', `too many requests; retry after ${waitText(retryAfterSeconds)}`, { status: 429 });
    this.name = 'RateLimited';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The database cannot be reached right now: every query that meets an outage fails with this
 * (core/db/database.ts), and the caller is told 503 `temporarily_unavailable`, to retry after
 * `retryAfterSeconds`. The error is shaped as oidc-provider's error handler reads any error
 * (`statusCode`, `expose`, `message` as the code, `error_description`: see
 * server/provider/internals.ts), so an outage met inside one of its endpoints is answered there,
 * as what it is, and not as a 500. The driver's error is the `cause`.
 */
export class DatabaseUnavailable extends Error {
  static readonly retryAfterSeconds = 5;
  static readonly description = 'the service is temporarily unavailable, try again shortly';
  // No `code`: Prisma Client would wrap an error that has one in its own (test/errors/outage-error.test.ts).
  readonly status = 503;
  readonly statusCode = 503;
  // Shown although a 503: it says only "try again", which gives nothing away.
  readonly expose = true;
  readonly error_description = DatabaseUnavailable.description;
  /** What went wrong, in words for an operator (the CLI says it); never shown to a caller. */
  readonly reason: string;

  constructor({ cause, reason }: { cause: unknown; reason: string }) {
    super('temporarily_unavailable', { cause });
    this.name = 'DatabaseUnavailable';
    this.reason = reason;
  }
}

export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, expected: string) {
    super(`${variable}: ${expected}`);
    this.variable = variable;
    this.name = 'ConfigError';
  }
}
