/**
 * /readyz: ready while the store answers and the process is not draining.
 * Concurrent probes share one in-flight check, so a burst of health checks
 * costs one store call.
 */
export interface Readiness {
  check(): Promise<{ ready: boolean; reason?: string }>;
  markDraining(): void;
  isDraining(): boolean;
}

export function createReadiness(ping: () => Promise<void>): Readiness {
  let draining = false;
  let inFlight: Promise<{ ready: boolean; reason?: string }> | undefined;
  return {
    markDraining: () => {
      draining = true;
    },
    isDraining: () => draining,
    check: () => {
      if (draining) return Promise.resolve({ ready: false, reason: 'shutting down' });
      inFlight ??= ping()
        .then(() => ({ ready: true }))
        .catch((error: Error) => ({ ready: false, reason: `store: ${error.message}` }))
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
  };
}
