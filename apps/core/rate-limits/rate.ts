/**
 * A sustained rate, written as nginx's `limit_req` writes it (`50r/s`), without the `r`: `50/s`,
 * `6/m`, `100/h`. The one parser of that syntax, for the configuration and the CLI alike.
 */
export interface Rate {
  count: number;
  per: 's' | 'm' | 'h';
}

/** A token bucket: refilled at `rate`, holding at most `burst` requests. */
export interface Limit {
  rate: Rate;
  burst: number;
}

const unitMs = { s: 1000, m: 60_000, h: 3_600_000 } as const;

export const rateSyntax = 'a rate such as 50/s, 6/m or 100/h (a whole number, at least 1, per second, minute or hour)';

export function parseRate(text: string): Rate | undefined {
  const match = /^(\d{1,9})\/([smh])$/.exec(text.trim());
  if (!match || Number(match[1]) < 1) return undefined;
  return { count: Number(match[1]), per: match[2] as Rate['per'] };
}

export const formatRate = ({ count, per }: Rate) => `${count}/${per}`;

/** Milliseconds between two requests at the sustained rate: what one request costs a bucket. */
export const intervalMs = ({ count, per }: Rate) => unitMs[per] / count;
