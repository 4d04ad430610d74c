interface Waiter {
  readonly deadline: number;
  readonly operation: string;
  readonly admit: () => void;
  readonly refuse: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Weight of the newest answer in the running estimate of how long a call takes once sent. */
const NEWEST_WEIGHT = 0.2;

/**
 * Bounds the calls in flight to DynamoDB and keeps the ones that could not finish in time from
 * being sent at all. Without it, a burst beyond what the store can answer within the timeout
 * (1,000 players pressing play at once on a small instance) queues every call past its deadline:
 * each is still sent, its write applied, its answer thrown away as a 503, and the store stays busy
 * with work nobody waits for (measured: 6,205 writes sent for 637 answered in time). Here a call
 * waits its turn first come, first served, and when its turn comes with less time left than calls
 * are taking, it is refused unsent (the same 503, without the write behind it).
 *
 * Only answers that arrived in time feed the estimate, so it stays below the timeout: a call that
 * starts with its whole budget is refused only when calls take nearly all of it anyway.
 */
export class CallGate {
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];
  /** Running estimate of a sent call's duration, ms; 0 until the first answer. */
  private estimateMs = 0;

  /** `timedOut` makes the error a refused or expired call rejects with (the caller's timeout error). */
  constructor(
    private readonly limit: number,
    private readonly timedOut: (operation: string) => Error,
  ) {}

  /** Resolves when the call may be sent; rejects with `timedOut` when it could not finish by `deadline`. */
  enter(operation: string, deadline: number): Promise<void> {
    if (this.inFlight < this.limit && this.waiting.length === 0) {
      if (this.hopeless(deadline, Date.now())) return Promise.reject(this.timedOut(operation));
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((admit, refuse) => {
      const timer = setTimeout(
        () => {
          const index = this.waiting.indexOf(waiter);
          if (index >= 0) this.waiting.splice(index, 1);
          refuse(this.timedOut(operation));
        },
        Math.max(0, deadline - Date.now()),
      );
      const waiter: Waiter = { deadline, operation, admit, refuse, timer };
      this.waiting.push(waiter);
    });
  }

  /** A sent call is over; `answeredInMs` when it was answered in time (it feeds the estimate). */
  leave(answeredInMs?: number): void {
    if (answeredInMs !== undefined) {
      this.estimateMs =
        this.estimateMs === 0 ? answeredInMs : this.estimateMs + NEWEST_WEIGHT * (answeredInMs - this.estimateMs);
    }
    this.inFlight--;
    const now = Date.now();
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      clearTimeout(next.timer);
      if (this.hopeless(next.deadline, now)) {
        next.refuse(this.timedOut(next.operation));
        continue;
      }
      this.inFlight++;
      next.admit();
      return;
    }
  }

  private hopeless(deadline: number, now: number): boolean {
    return deadline - now < this.estimateMs;
  }
}
