import { createRequire } from 'node:module';
import { cookieSigner } from '../../apps/server/provider/cookie-keys.ts';

// keygrip is what Koa's cookies would use by default: signatures must stay interchangeable with
// it, so cookies issued before the switch stay valid.
const Keygrip = createRequire(import.meta.url)('keygrip') as new (
  keys: string[],
) => { sign(data: string): string; verify(data: string, digest: string): boolean };

const current = 'current-cookie-key-0123456789abcdef';
const previous = 'previous-cookie-key-0123456789abcdef';

describe('cookie signatures', () => {
  const signer = cookieSigner([current, previous]);

  it('signs exactly as keygrip does, with the first key', () => {
    for (const data of ['_session=abc', `_interaction=${'x'.repeat(300)}`, '']) {
      expect(signer.sign(data)).toBe(new Keygrip([current]).sign(data));
    }
  });

  it('verifies signatures made with any configured key, and says which', () => {
    expect(signer.index('_session=abc', new Keygrip([current]).sign('_session=abc'))).toBe(0);
    expect(signer.index('_session=abc', new Keygrip([previous]).sign('_session=abc'))).toBe(1);
    expect(new Keygrip([current, previous]).verify('_session=abc', signer.sign('_session=abc'))).toBe(true);
  });

  it('refuses tampered, truncated, empty and foreign signatures', () => {
    const good = signer.sign('_session=abc');
    expect(signer.verify('_session=abd', good)).toBe(false);
    expect(signer.verify('_session=abc', good.slice(0, -1))).toBe(false);
    expect(signer.verify('_session=abc', `${good}A`)).toBe(false);
    expect(signer.verify('_session=abc', '')).toBe(false);
    expect(signer.verify('_session=abc', new Keygrip(['someone-elses-key-0123456789abcdef']).sign('_session=abc'))).toBe(false);
  });

  it('needs a key', () => {
    expect(() => cookieSigner([])).toThrow('at least one cookie key is required');
  });
});
