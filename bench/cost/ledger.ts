/*
 * What the players saw, in simulated seconds. Play time is counted only inside the measurement
 * window, the same window over which the service's counters are read, so that writes and
 * play-hours describe the same stretch of time.
 */
export interface CrashRecord {
  readonly userId: string;
  readonly streamId: string;
  /** Simulated seconds from the crash until the last granted lease ran out: how long the slot stayed taken. */
  readonly heldS: number;
  /** The last lease granted before the crash, simulated seconds. */
  readonly lastLeaseS: number;
  /** Listed just before its expiry and gone just after, checked with GET /users/{userId}/streams; undefined when not probed. */
  verified?: boolean;
  /** The probe before the expiry was answered too late to tell. */
  inconclusive?: boolean;
}

export class Ledger {
  playS = 0;
  sessionsStarted = 0;
  admitted = 0;
  refusedAtStart = 0;
  /** Adds refused (409) while a crashed player of the same user still held a slot. */
  refusedWhileCrashedSlotHeld = 0;
  kicked = 0;
  replacesSent = 0;
  readds = 0;
  refusedReadds = 0;
  removes = 0;
  crashes: CrashRecord[] = [];
  transientErrors = 0;
  /** Transient answers by status (0: no answer) and route, e.g. "heartbeat 503". */
  readonly transientByKind = new Map<string, number>();

  transient(route: string, status: number): void {
    this.transientErrors++;
    const key = `${route} ${status}`;
    this.transientByKind.set(key, (this.transientByKind.get(key) ?? 0) + 1);
  }
  /** Heartbeats sent, how late their timers fired and how long their answers took, wall ms in all. */
  heartbeatsTimed = 0;
  lateWallMs = 0;
  latencyWallMs = 0;
  maxLateWallMs = 0;

  timing(lateWallMs: number, latencyWallMs: number): void {
    this.heartbeatsTimed++;
    this.lateWallMs += Math.max(0, lateWallMs);
    this.latencyWallMs += latencyWallMs;
    this.maxLateWallMs = Math.max(this.maxLateWallMs, lateWallMs);
  }

  /** Answers by granted heartbeat interval, in real seconds (the answer's value × the time factor). */
  readonly intervals = new Map<number, number>();
  /** Answers by granted lease length rounded to whole real seconds. */
  readonly leases = new Map<number, number>();

  constructor(
    readonly windowStartS: number,
    readonly windowEndS: number,
  ) {}

  /** Counts the part of [fromS, toS] that falls in the window. */
  play(fromS: number, toS: number): void {
    const overlap = Math.min(toS, this.windowEndS) - Math.max(fromS, this.windowStartS);
    if (overlap > 0) this.playS += overlap;
  }

  answered(intervalRealS: number, leaseRealS: number): void {
    this.intervals.set(intervalRealS, (this.intervals.get(intervalRealS) ?? 0) + 1);
    // Nearest 5 s: the answer's own latency (scaled up with time) blurs the exact figure.
    const lease = Math.round(leaseRealS / 5) * 5;
    this.leases.set(lease, (this.leases.get(lease) ?? 0) + 1);
  }
}
