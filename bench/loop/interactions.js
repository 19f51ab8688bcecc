// The interactions worker's production bundle (cargo xtask build-workers),
// wrapped for the in-isolate loop. See ./loop.js.
import worker from '../../interactions-worker/build/index.js';
import { withBenchLoop } from './loop.js';

export default withBenchLoop(worker);
