// The one module with a side effect (see package.json "sideEffects"): registers the plugin on the Video.js
// the application's bundle resolves, for `player.streamLimiter({...})` with nothing else to call.
import videojs from 'video.js';
import { registerStreamLimiter, type VideojsLike } from './index.js';

registerStreamLimiter(videojs as unknown as VideojsLike);
