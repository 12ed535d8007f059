import pino, { type Logger } from 'pino';
import { requestScope } from './request-context.ts';

export type { Logger };

/**
 * Structured JSON logs. Paths that could carry a credential are censored wherever they appear,
 * as a second line of defence: nothing should log them in the first place.
 */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      // Every line written while serving a request carries that request's id.
      mixin: () => {
        const scope = requestScope.getStore();
        return scope ? { reqId: scope.requestId } : {};
      },
      redact: {
        paths: [
          'password',
          '*.password',
          'client_secret',
          '*.client_secret',
          'authorization',
          '*.authorization',
          'cookie',
          '*.cookie',
          '*.headers.authorization',
          '*.headers.cookie',
          'token',
          '*.token',
          'code',
          '*.code',
          'client_assertion',
          '*.client_assertion',
          'assertion',
          '*.assertion',
          'refresh_token',
          '*.refresh_token',
          'access_token',
          '*.access_token',
          'id_token',
          '*.id_token',
          'secret',
          '*.secret',
          'set-cookie',
          '*.headers["set-cookie"]',
        ],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}
