import { MAX_FIELD_ERRORS, ValidationError, firstFieldErrors } from '../../src/errors';
import { addStreamBody, parseInput } from '../../src/http/schemas';

function validationErrorOf(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('VALIDATION_ERROR field errors', () => {
  it('keeps the first problem of each path, in the order found', () => {
    const { errors, total } = firstFieldErrors([
      { path: 'userId', message: 'first' },
      { path: 'streamId', message: 'only' },
      { path: 'userId', message: 'second' },
    ]);
    expect(errors).toEqual([
      { path: 'userId', message: 'first' },
      { path: 'streamId', message: 'only' },
    ]);
    expect(total).toBe(2);
  });

  it('lists at most 20 entries, the first found, and says how many more there were', () => {
    const all = Array.from({ length: 50 }, (_, i) => ({ path: `f${i}`, message: 'unknown field' }));
    const error = new ValidationError(all);
    expect(MAX_FIELD_ERRORS).toBe(20);
    expect(error.errors).toEqual(all.slice(0, 20));
    expect(error.extras.errors).toEqual(all.slice(0, 20));
    expect(error.detail).toBe('f0: unknown field (and 49 more)');
  });

  // A pairwise de-duplication took 5 s for 50,000 unknown keys (750 ms for 20,000); one pass takes
  // milliseconds. The bound is generous so a slow CI box never flakes, yet far below quadratic.
  it('de-duplicates in one pass: 50,000 bad fields are refused in well under a second', () => {
    const body: Record<string, unknown> = { userId: 'u' };
    for (let i = 0; i < 50_000; i++) body[`x${i}`] = 0;
    const started = performance.now();
    const error = validationErrorOf(() => parseInput(addStreamBody, body));
    const elapsedMs = performance.now() - started;
    expect(error.errors).toHaveLength(20);
    expect(error.errors[0]).toEqual({ path: 'x0', message: 'unknown field' });
    expect(error.detail).toMatch(/\(and 49999 more\)$/);
    expect(elapsedMs).toBeLessThan(1500);
  });

  it('still reports each field once when it fails several checks', () => {
    const error = validationErrorOf(() => parseInput(addStreamBody, { userId: '' }));
    expect(error.errors.filter((e) => e.path === 'userId')).toHaveLength(1);
  });
});
