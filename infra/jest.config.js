// Runs only the infra tests, without the root config's global setup (which starts
// DynamoDB Local and builds the service): `npx jest -c infra/jest.config.js`.
// The root config's `infra` project runs the same files as part of `npm test`.
// tsconfig.json sets isolatedModules, so ts-jest only transpiles (type errors are the job of
// `tsc -p infra/tsconfig.json --noEmit`, which the root typecheck script runs).
module.exports = {
  displayName: 'infra',
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: { warnOnly: false } }],
  },
  testTimeout: 120_000,
};
