import type { ResumeStorage } from './types.js';

const PREFIX = 'stream-limiter:';

/** `globalThis.sessionStorage`, or undefined where there is none or it refuses access (some private modes). */
export function defaultResumeStorage(): ResumeStorage | undefined {
  try {
    const storage = (globalThis as { sessionStorage?: ResumeStorage }).sessionStorage;
    return storage ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The stream id a tab keeps under `resumeKey`, so that a reload or a reopened tab adds the same id (renewed
 * with 200 while its lease lives) instead of a new one that takes a second slot. Storage failures (quota,
 * privacy settings) only cost the resume, never the start.
 */
export class ResumeSlot {
  constructor(
    private readonly storage: ResumeStorage | undefined,
    private readonly key: string,
    private readonly userId: string,
  ) {}

  /** The stored stream id when it was stored for this user. */
  read(): string | undefined {
    try {
      const raw = this.storage?.getItem(PREFIX + this.key);
      if (!raw) return undefined;
      const stored = JSON.parse(raw) as { userId?: unknown; streamId?: unknown };
      return stored.userId === this.userId && typeof stored.streamId === 'string' ? stored.streamId : undefined;
    } catch {
      return undefined;
    }
  }

  write(streamId: string): void {
    try {
      this.storage?.setItem(PREFIX + this.key, JSON.stringify({ userId: this.userId, streamId }));
    } catch {
      // Only the resume is lost.
    }
  }

  clear(): void {
    try {
      this.storage?.removeItem(PREFIX + this.key);
    } catch {
      // Nothing to do: a stale entry only makes a later start add a stream id that is no longer live (201).
    }
  }
}
