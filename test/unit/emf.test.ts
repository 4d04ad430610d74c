import { createEmfMetrics, EMF_NAMESPACE, teeStoreCalls } from '../../src/observability/emf';
import type { StoreCallReport } from '../../src/store/lease-store';

type EmfLine = Record<string, unknown> & {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
};

function harness(start = Date.UTC(2026, 11, 1, 10, 0, 30)) {
  const lines: EmfLine[] = [];
  let now = start;
  const emf = createEmfMetrics({
    table: 'leases',
    write: (line) => lines.push(JSON.parse(line) as EmfLine),
    now: () => now,
  });
  return { emf, lines, setNow: (ms: number) => (now = ms) };
}

const call = (
  operation: StoreCallReport['operation'],
  seconds: number,
  extra: Partial<StoreCallReport> = {},
): StoreCallReport => ({
  operation,
  seconds,
  outcome: 'ok',
  ...extra,
});

describe('EMF metrics', () => {
  it('writes nothing while nothing happens (no cost at rest)', () => {
    const { emf, lines } = harness();
    emf.flush();
    expect(lines).toEqual([]);
  });

  it('writes the business counters under the Table dimension, zeros included once anything happened', () => {
    const { emf, lines } = harness();
    emf.events.admitted();
    emf.events.admitted();
    emf.events.rejected();
    emf.events.terminated();
    emf.events.evicted(2);
    emf.events.degraded();
    emf.flush();
    expect(lines).toHaveLength(1);
    const [line] = lines as [EmfLine];
    expect(line._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: EMF_NAMESPACE, Dimensions: [['Table']] });
    expect(line).toMatchObject({
      Table: 'leases',
      Admissions: 2,
      Rejections: 1,
      Terminations: 1,
      Evictions: 2,
      DegradedAdmissions: 1,
      Heartbeats: 0,
      ConcurrentStreamsEstimate: 0,
    });
    expect(line._aws.Timestamp).toBe(Date.UTC(2026, 11, 1, 10, 0, 30));
    // Counters restart after a flush.
    emf.flush();
    expect(lines).toHaveLength(1);
  });

  it('writes DynamoDB calls, write units and latency per operation, and errors only for kinds that happened', () => {
    const { emf, lines } = harness();
    const onStoreCall = teeStoreCalls(() => undefined, emf);
    onStoreCall(call('UpdateItem', 0.004, { writeUnits: 1 }));
    onStoreCall(call('UpdateItem', 0.006, { writeUnits: 2 }));
    onStoreCall(call('UpdateItem', 0.5, { outcome: 'timeout' }));
    onStoreCall(call('GetItem', 0.002));
    emf.flush();
    const update = lines.find((l) => l.Operation === 'UpdateItem');
    expect(update?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['Table', 'Operation']]);
    expect(update).toMatchObject({ DynamoDbCalls: 3, DynamoDbWriteUnits: 3, DynamoDbLatency: [4, 6, 500] });
    expect(update?._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({
      Name: 'DynamoDbLatency',
      Unit: 'Milliseconds',
    });
    expect(lines.find((l) => l.Operation === 'GetItem')).toMatchObject({ DynamoDbCalls: 1, DynamoDbLatency: 2 });
    const errors = lines.filter((l) => l.Kind !== undefined);
    expect(errors).toEqual([expect.objectContaining({ Kind: 'timeout', StoreErrors: 1 })]);
    expect(errors[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['Table', 'Kind']]);
  });

  it('keeps at most 100 latency samples per operation per flush, so a busy minute is still one line', () => {
    const { emf, lines } = harness();
    for (let i = 0; i < 5000; i++) emf.onStoreCall(call('UpdateItem', 0.001 + (i % 10) / 1000, { writeUnits: 1 }));
    emf.flush();
    const updates = lines.filter((l) => l.Operation === 'UpdateItem');
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ DynamoDbCalls: 5000, DynamoDbWriteUnits: 5000 });
    expect((updates[0]?.DynamoDbLatency as number[]).length).toBe(100);
  });

  it('flushes once per minute, stamped inside the minute it covers, and flushes the rest on stop', () => {
    jest.useFakeTimers();
    try {
      const start = Date.UTC(2026, 11, 1, 10, 0, 30);
      jest.setSystemTime(start);
      const lines: EmfLine[] = [];
      const emf = createEmfMetrics({ table: 'leases', write: (line) => lines.push(JSON.parse(line) as EmfLine) });
      const stop = emf.flushEveryMinute();
      emf.events.admitted();
      jest.advanceTimersByTime(29_999);
      expect(lines).toHaveLength(0);
      jest.advanceTimersByTime(1);
      expect(lines).toHaveLength(1);
      expect(lines[0]?._aws.Timestamp).toBe(Date.UTC(2026, 11, 1, 10, 0, 59, 999));
      emf.events.rejected();
      jest.advanceTimersByTime(10_000);
      stop();
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatchObject({ Rejections: 1, Admissions: 0 });
    } finally {
      jest.useRealTimers();
    }
  });
});
