// Runs only the infra tests, without the root config's global setup (which starts
// DynamoDB Local and builds the service): `npx jest -c infra/jest.config.js`.
// The root config's `infra` project runs the same files as part of `npm test`.
// TS151002 is ts-jest noting that `module: nodenext` is only fully supported with
// isolatedModules; these files compile to CommonJS either way.
module.exports = {
  displayName: 'infra',
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: { warnOnly: false, ignoreCodes: [151002] } }] },
  testTimeout: 120_000,
};
