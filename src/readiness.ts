import { StoreUnavailable } from './errors';

/**
 * /readyz: ready while the store answers and the process is not draining.
 * Concurrent probes share one in-flight check, so a burst of health checks
 * costs one store call.
 */
export interface Readiness {
  check(): Promise<{ ready: boolean; reason?: string }>;
  markDraining(): void;
  isDraining(): boolean;
  /** Runs once when draining starts (at once if it already has). */
  onDraining(listener: () => void): void;
}

/**
 * The reason /readyz gives: the kind of store failure, never the error's own message, which may
 * carry endpoints, table names or account ids. The full error goes to `onFailure` (the log).
 */
function publicReason(error: unknown): string {
  return error instanceof StoreUnavailable ? `store unavailable: ${error.kind}` : 'store unavailable';
}

export function createReadiness(
  ping: () => Promise<void>,
  options: { onFailure?: (error: unknown) => void } = {},
): Readiness {
  let draining = false;
  const drainListeners: Array<() => void> = [];
  let inFlight: Promise<{ ready: boolean; reason?: string }> | undefined;
  return {
    markDraining: () => {
      if (draining) return;
      draining = true;
      for (const listener of drainListeners.splice(0)) listener();
    },
    isDraining: () => draining,
    onDraining: (listener) => {
      if (draining) listener();
      else drainListeners.push(listener);
    },
    check: () => {
      if (draining) return Promise.resolve({ ready: false, reason: 'shutting down' });
      inFlight ??= ping()
        .then(() => ({ ready: true }))
        .catch((error: unknown) => {
          options.onFailure?.(error);
          return { ready: false, reason: publicReason(error) };
        })
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
  };
}
