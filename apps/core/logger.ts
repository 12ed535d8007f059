import pino, { type Logger } from 'pino';

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
      redact: {
        paths: ['password', '*.password', 'client_secret', '*.client_secret', 'authorization', '*.authorization', 'cookie', '*.cookie', '*.headers.authorization', '*.headers.cookie', 'token', '*.token', 'code', '*.code'],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}
