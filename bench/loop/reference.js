// The tutorial-shaped reference worker, wrapped for the in-isolate loop.
// See ./loop.js.
import server from '../reference-worker/src/server.js';
import { withBenchLoop } from './loop.js';

export default withBenchLoop(server);
