#!/usr/bin/env node
// `npm start`: build when stale, then run the service in this same process,
// so SIGTERM from npm, a terminal or a container reaches it directly.
'use strict';
const { ensureBuild, entry } = require('./ensure-build.js');

ensureBuild();
require(entry);
