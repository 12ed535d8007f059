// Jest runs TypeScript as ES modules (oidc-provider and the generated Prisma client are ESM only).
const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  // Sources import siblings as `./x.ts` (Node 24 runs them as they are); keep those specifiers
  // so Jest's resolver and Node's own loader (global setup) both find the files.
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: { rewriteRelativeImportExtensions: false } }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default {
  ...base,
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/apps/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/'],
};

export { base };
