import { bindToMedia, StreamLimitReachedError, type MediaLike } from '../../../sdk/src/index';
import { setup } from './kit';

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

/** A media element's playback contract: play()/pause() flip `paused` and fire their events on a later task. */
class FakeMedia extends EventTarget implements MediaLike {
  paused = true;
  play(): Promise<void> {
    if (this.paused) {
      this.paused = false;
      setTimeout(() => this.dispatchEvent(new Event('play')), 0);
    }
    return Promise.resolve();
  }
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    setTimeout(() => this.dispatchEvent(new Event('pause')), 0);
  }
  override addEventListener(type: string, listener: () => void): void {
    super.addEventListener(type, listener);
  }
  override removeEventListener(type: string, listener: () => void): void {
    super.removeEventListener(type, listener);
  }
}

describe('bindToMedia()', () => {
  it('holds play until admitted, then plays; ended releases the slot', async () => {
    const { server, limiter } = setup();
    const media = new FakeMedia();
    const binding = bindToMedia(media, limiter, { userId: 'alice', deviceId: 'tv' });

    void media.play();
    await jest.advanceTimersByTimeAsync(0);
    expect(binding.state).toBe('playing');
    expect(media.paused).toBe(false);
    expect(server.live('alice').map((l) => l.deviceId)).toEqual(['tv']);

    media.dispatchEvent(new Event('ended'));
    await jest.advanceTimersByTimeAsync(0);
    expect(binding.state).toBe('idle');
    expect(server.live('alice')).toHaveLength(0);
  });

  it('keeps a refused player paused and lets the app replace one of the listed streams', async () => {
    const { server, limiter } = setup();
    for (const id of ['a', 'b', 'c']) server.seed('alice', id, `screen-${id}`);
    const refused: StreamLimitReachedError[] = [];
    const media = new FakeMedia();
    const binding = bindToMedia(media, limiter, { userId: 'alice', onRefused: (error) => refused.push(error) });

    void media.play();
    await jest.advanceTimersByTimeAsync(0);
    expect(binding.state).toBe('refused');
    expect(media.paused).toBe(true);
    expect(refused[0]?.streams.map((s) => s.streamId)).toEqual(['a', 'b', 'c']);

    await binding.play({ replaceStreamId: 'b' });
    await jest.advanceTimersByTimeAsync(0);
    expect(binding.state).toBe('playing');
    expect(media.paused).toBe(false);
    expect(server.live('alice').map((l) => l.streamId)).toEqual(['a', 'c', binding.session!.streamId]);
  });

  it('pauses on terminated and reports who took over', async () => {
    const { server, limiter } = setup();
    const media = new FakeMedia();
    const terminated: unknown[] = [];
    const binding = bindToMedia(media, limiter, { userId: 'alice', onTerminated: (info) => terminated.push(info) });
    void media.play();
    await jest.advanceTimersByTimeAsync(0);

    server.evict('alice', binding.session!.streamId, { streamId: 'x', deviceId: 'phone' });
    await jest.advanceTimersByTimeAsync(30_000);
    expect(binding.state).toBe('terminated');
    expect(media.paused).toBe(true);
    expect(terminated).toEqual([
      expect.objectContaining({ reason: 'evicted', replacedBy: { streamId: 'x', deviceId: 'phone' } }),
    ]);
  });

  it('a pause stops heartbeats; a play after a pause longer than the lease admits the stream again', async () => {
    const { server, limiter } = setup();
    const media = new FakeMedia();
    const binding = bindToMedia(media, limiter, { userId: 'alice' });
    void media.play();
    await jest.advanceTimersByTimeAsync(0);
    const streamId = binding.session!.streamId;

    media.pause();
    await jest.advanceTimersByTimeAsync(0);
    expect(binding.state).toBe('paused');
    await jest.advanceTimersByTimeAsync(120_000); // longer than the 90 s lease
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(0);
    expect(server.live('alice')).toHaveLength(0);

    void media.play();
    await jest.advanceTimersByTimeAsync(0);
    expect(media.paused).toBe(false);
    expect(binding.state).toBe('playing');
    expect(server.requestsTo('/streams/add').map((r) => r.body?.streamId)).toEqual([streamId, streamId]);
    expect(server.live('alice')).toHaveLength(1);
  });

  it('a short pause keeps the slot: play resumes at once with a heartbeat', async () => {
    const { server, limiter } = setup();
    const media = new FakeMedia();
    const binding = bindToMedia(media, limiter, { userId: 'alice' });
    void media.play();
    await jest.advanceTimersByTimeAsync(0);
    media.pause();
    await jest.advanceTimersByTimeAsync(10_000);
    void media.play();
    await jest.advanceTimersByTimeAsync(0);

    expect(binding.state).toBe('playing');
    expect(server.requestsTo('/streams/heartbeat')).toHaveLength(1);
    expect(server.requestsTo('/streams/add')).toHaveLength(1);
    await binding.destroy();
    expect(server.live('alice')).toHaveLength(0);
  });
});
