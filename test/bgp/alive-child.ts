// Fixture: the agent's BGP liveness refresher alone, as a process the test can SIGSTOP and
// SIGCONT the way an agent hangs and recovers. Prints "alive" once the first refresh landed.

import { ExecaRunner } from '../../agent/apply/runner.js';
import { startAlive } from '../../agent/bgp/alive.js';
import { createLogger } from '../../agent/log.js';

const alive = startAlive(new ExecaRunner(), createLogger('error'), ['ipv4']);
if (await alive.refresh()) process.stdout.write('alive\n');
process.on('SIGTERM', () => void alive.stop('withdraw').then(() => process.exit(0)));
