/*
 * Preloaded (node -r) into every process the bench spawns with an IPC channel.
 * When the bench goes away, however it goes (exit, crash, Ctrl-C, kill -9),
 * the channel closes and this process gets SIGTERM: the service drains and
 * exits as on any SIGTERM, a stub server simply exits. So no server outlives
 * the bench, without relying on the bench's own exit handlers running.
 */
if (process.channel) {
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // The channel alone must not keep a finished process alive.
  process.channel.unref();
}
