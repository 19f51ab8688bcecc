// The interactions worker as deployed (its entry module over the bundle
// cargo xtask build-workers makes),
// wrapped for the in-isolate loop. See ./loop.js.
import worker from '../../interactions-worker/entry/index.mjs';
import { withBenchLoop } from './loop.js';

export default withBenchLoop(worker);
