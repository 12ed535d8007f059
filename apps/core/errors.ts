/**
 * The one application error model. `code` is stable and machine-readable
 * (`user.email_taken`), `message` may be shown to the caller, `detail` is for logs only.
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

export const notFound = (what: string, id: string) =>
  new AppError(`${what}.not_found`, `no ${what} with id ${id}`, { status: 404 });

export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, expected: string) {
    super(`${variable}: ${expected}`);
    this.variable = variable;
    this.name = 'ConfigError';
  }
}
