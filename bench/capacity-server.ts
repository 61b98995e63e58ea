// The capacity benchmark's backends: one process listening on `--count` loopback addresses from
// `--from`, accepting and closing every connection. Prints `listening N` once all are bound.

import net from 'node:net';
import { readFlags } from '../test/fixtures/bin/lib/flags.js';
import { BACKEND_PORT, backendAddress } from './capacity-net.js';

const flags = readFlags('capacity-server', ['from', 'count']);
const from = flags.int('from', 0);
const count = flags.int('count', 1);

const ignore = (): void => undefined;
const onConnection = (socket: net.Socket): void => {
  socket.on('error', ignore);
  socket.destroy();
};

const servers: net.Server[] = [];
for (let i = from; i < from + count; i++) {
  const server = net.createServer({ pauseOnConnect: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: backendAddress(i), port: BACKEND_PORT, backlog: 511 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => process.stderr.write(`server ${backendAddress(i)}: ${err.message}\n`));
  servers.push(server);
}
process.on('SIGTERM', () => process.exit(0));
process.stdout.write(`listening ${servers.length}\n`);
// The listeners keep the process alive until SIGTERM.
