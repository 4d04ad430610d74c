// One DynamoDB Local per run, started in globalSetup and shared by every project;
// each test file makes its own table, so files never see each other's data.
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }];

const project = (displayName, roots, extra = {}) => ({
  displayName,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': tsJest },
  roots,
  testMatch: ['**/*.test.ts'],
  setupFiles: ['<rootDir>/test/helpers/quiet-sdk.ts'],
  // The player packages' sources import './x.js' as native ESM requires; jest resolves the .ts behind it.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  ...extra,
});

const slow = { setupFilesAfterEnv: ['<rootDir>/test/helpers/slow-tests.ts'] };

module.exports = {
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  transform: { '^.+\\.ts$': tsJest },
  maxWorkers: 2,
  projects: [
    project('unit', ['<rootDir>/test/unit']),
    project('integration', ['<rootDir>/test/integration']),
    project('e2e', ['<rootDir>/test/e2e'], slow),
    project('reliability', ['<rootDir>/test/reliability'], slow),
    project('infra', ['<rootDir>/infra/test'], slow),
  ],
};
