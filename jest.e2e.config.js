import { base } from './jest.config.js';

export default { ...base, testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], testTimeout: 60_000, maxWorkers: 1 };
