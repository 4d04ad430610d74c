// Jest reads testTimeout only from the root config, not from a project; these projects start
// real processes and DynamoDB work on a 2-core box, so they get minutes, not 5 s.
jest.setTimeout(Number(process.env.SLOW_TEST_TIMEOUT_MS ?? 180_000));
