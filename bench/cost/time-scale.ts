/*
 * Compressed time. Every duration the write count depends on (lease, heartbeat interval, longest
 * lease, session and pause lengths) is divided by the same factor, so every ratio between them, and
 * hence the number of writes a session makes, is unchanged: a 45-minute session with 30-second
 * heartbeats makes 90 heartbeats whether it lasts 45 minutes or 90 seconds. Play time is measured in
 * wall seconds and multiplied back by the factor, so writes per play-hour come out in real units.
 * What does not scale is request latency (a heartbeat is sent one interval after the previous
 * answer, so each period is interval + latency) and timer jitter; both make the compressed run
 * write slightly less often than real time would, by latency / interval (about 1-2% at 1 s).
 */
export interface LeaseSettings {
  readonly name: 'fixed' | 'adaptive';
  /** Real seconds, as production would set them. */
  readonly leaseSeconds: number;
  readonly heartbeatIntervalSeconds: number;
  readonly leaseMaxSeconds: number;
}

export const FIXED: LeaseSettings = Object.freeze({
  name: 'fixed',
  leaseSeconds: 90,
  heartbeatIntervalSeconds: 30,
  leaseMaxSeconds: 90,
});

export const ADAPTIVE: LeaseSettings = Object.freeze({
  name: 'adaptive',
  leaseSeconds: 90,
  heartbeatIntervalSeconds: 30,
  leaseMaxSeconds: 300,
});

/** The service's settings are whole seconds: the factor must divide each of them. */
export function scaledServiceEnv(settings: LeaseSettings, factor: number): Record<string, string> {
  const scaled = (name: string, seconds: number, min: number): string => {
    const value = seconds / factor;
    if (!Number.isInteger(value) || value < min) {
      throw new Error(
        `time scale ${factor}: ${name}=${seconds} s would be ${value} s; the service takes whole seconds (at least ${min}), pick a factor that divides it`,
      );
    }
    return String(value);
  };
  return {
    LEASE_SECONDS: scaled('LEASE_SECONDS', settings.leaseSeconds, 2),
    HEARTBEAT_INTERVAL_SECONDS: scaled('HEARTBEAT_INTERVAL_SECONDS', settings.heartbeatIntervalSeconds, 1),
    // Equal to LEASE_SECONDS turns adaptive leases off (contract), so the fixed run sets it too.
    LEASE_MAX_SECONDS: scaled('LEASE_MAX_SECONDS', settings.leaseMaxSeconds, 2),
  };
}

export interface TimeScale {
  readonly factor: number;
  /** Simulated seconds to wall milliseconds. */
  toWallMs(simulatedSeconds: number): number;
  /** Wall milliseconds to simulated seconds. */
  toSimulatedS(wallMs: number): number;
}

export function timeScale(factor: number): TimeScale {
  if (!(factor >= 1)) throw new Error(`time scale must be at least 1, got ${factor}`);
  return {
    factor,
    toWallMs: (simulatedSeconds) => (simulatedSeconds * 1000) / factor,
    toSimulatedS: (wallMs) => (wallMs * factor) / 1000,
  };
}
