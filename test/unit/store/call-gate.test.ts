import { CallGate } from '../../../src/store/call-gate';

class TimedOut extends Error {}

describe('CallGate', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  const gate = (limit: number) => new CallGate(limit, (operation) => new TimedOut(operation));
  /** The promise's state after pending callbacks ran: 'admitted', 'refused' or 'waiting'. */
  async function state(entered: Promise<void>): Promise<string> {
    let result = 'waiting';
    entered.then(
      () => (result = 'admitted'),
      () => (result = 'refused'),
    );
    await Promise.resolve();
    await Promise.resolve();
    return result;
  }

  it('admits up to its limit at once, then lets the next in, first come first served, as calls end', async () => {
    const calls = gate(2);
    const deadline = Date.now() + 1000;
    const entered = ['a', 'b', 'c', 'd'].map((op) => calls.enter(op, deadline));

    expect(await Promise.all(entered.map(state))).toEqual(['admitted', 'admitted', 'waiting', 'waiting']);
    calls.leave(5);
    expect(await Promise.all(entered.slice(2).map(state))).toEqual(['admitted', 'waiting']);
    calls.leave(5);
    expect(await state(entered[3]!)).toBe('admitted');
  });

  it('refuses a waiting call at its deadline, unsent, and gives its turn to the next', async () => {
    const calls = gate(1);
    const first = calls.enter('first', Date.now() + 1000);
    const late = calls.enter('late', Date.now() + 100);
    const patient = calls.enter('patient', Date.now() + 5000);

    jest.advanceTimersByTime(100);
    await expect(late).rejects.toThrow(TimedOut);
    calls.leave(50);
    expect(await state(first)).toBe('admitted');
    expect(await state(patient)).toBe('admitted');
  });

  it('refuses a call whose turn comes with less time left than calls are taking, and admits the next that can make it', async () => {
    const calls = gate(1);
    const busy = calls.enter('busy', Date.now() + 1000);
    const tight = calls.enter('tight', Date.now() + 600);
    const roomy = calls.enter('roomy', Date.now() + 2000);
    await state(busy);

    // The busy call took 400 ms: 200 ms are left to the tight one, less than calls take now.
    jest.advanceTimersByTime(400);
    calls.leave(400);
    await expect(tight).rejects.toThrow('tight');
    expect(await state(roomy)).toBe('admitted');
  });

  it('sends a call with its whole budget while answers come in time, and refuses one that starts too late even with a slot free', async () => {
    const calls = gate(4);
    await calls.enter('warm', Date.now() + 1000);
    calls.leave(300);

    expect(await state(calls.enter('fresh', Date.now() + 1000))).toBe('admitted');
    await expect(calls.enter('second-of-a-request', Date.now() + 200)).rejects.toThrow(TimedOut);
  });

  it('learns from answers only: a call that ended without one leaves the estimate as it was', async () => {
    const calls = gate(1);
    await calls.enter('timed-out', Date.now() + 1000);
    calls.leave(undefined);

    expect(await state(calls.enter('next', Date.now() + 10))).toBe('admitted');
  });
});
