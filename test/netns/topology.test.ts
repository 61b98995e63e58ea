// Real-kernel tests of the netns harness: forwarding through lb1, fixtures, and guaranteed teardown.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { needsRoot } from '../support/root.js';
import type { ConnReport, StreamReport } from '../fixtures/bin/lib/types.js';
import {
  backendIp, cleanupStale, createLab, listNetns, parseJsonLine, singleLbTopology, withLab, type Lab, type NsProcess,
} from './topology.js';

const hasPrefix = async (prefix: string): Promise<string[]> => (await listNetns()).filter((n) => n.startsWith(`${prefix}-`));
const tiny = { bridges: ['front'], hosts: [{ name: 'h1', links: [{ bridge: 'front', address: '10.9.0.1/24' }] }] };

describe('topology builders', () => {
  it('snat mode gives backends no default route, dnat mode routes them via lb1', () => {
    const snat = singleLbTopology({ backends: 2, mode: 'snat' });
    const dnat = singleLbTopology({ backends: 2, mode: 'dnat' });
    assert.deepEqual(snat.hosts.find((h) => h.name === 'b2')?.routes, []);
    assert.deepEqual(dnat.hosts.find((h) => h.name === 'b2')?.routes, [{ to: 'default', via: '10.2.0.1' }]);
    assert.equal(dnat.hosts.find((h) => h.name === 'lb1')?.forwarding, true);
  });
});

describe('netns topology (real kernel)', needsRoot(), () => {
  let lab: Lab | undefined;
  const servers: NsProcess[] = [];

  before(async () => {
    await cleanupStale();
    lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
    for (const b of ['b1', 'b2', 'b3']) servers.push(lab.spawnFixture(b, 'name-server', ['--port', '8080', '--name', b]));
    servers.push(lab.spawnFixture('b1', 'name-server', ['--port', '8080', '--name', 'b1-udp', '--udp']));
    servers.push(lab.spawnFixture('b2', 'http-server', ['--port', '8081', '--name', 'b2']));
    await Promise.all(servers.map((s) => s.waitForLine('listening')));
  });
  after(() => lab?.destroy());

  it('client reaches each backend by plain forwarding through lb1', async () => {
    const l = lab!;
    await Promise.all(
      [1, 2, 3].map(async (i) => {
        const r = await l.execFixture('client', 'conn-client', ['--target', `${backendIp(i)}:8080`, '--count', '3', '--concurrency', '2']);
        const report = parseJsonLine<ConnReport>(r.stdout);
        assert.deepEqual(report.counts, { [`b${i}`]: 3 }, r.stdout);
        assert.equal(report.failures, 0);
      }),
    );
  });

  it('UDP datagrams are answered with the name', async () => {
    const r = await lab!.execFixture('client', 'conn-client', ['--target', `${backendIp(1)}:8080`, '--count', '5', '--udp']);
    assert.deepEqual(parseJsonLine<ConnReport>(r.stdout).counts, { 'b1-udp': 5 });
  });

  it('stream-client holds connections and checks echoes', async () => {
    const r = await lab!.execFixture('client', 'stream-client', [
      '--target', `${backendIp(2)}:8080`, '--count', '3', '--interval-ms', '50', '--duration-ms', '400',
    ]);
    const report = parseJsonLine<StreamReport>(r.stdout);
    assert.equal(report.connections.length, 3);
    for (const c of report.connections) {
      assert.equal(c.backend, 'b2');
      assert.equal(c.ok, true, JSON.stringify(c));
      assert.ok(c.echoed >= 3 && c.lastOkMs !== null, JSON.stringify(c));
    }
  });

  it('http-server answers and can be told to fail', async () => {
    const get = async (path: string): Promise<string> => {
      const code = `const r = await fetch('http://${backendIp(2)}:8081${path}'); console.log(r.status, await r.text());`;
      return (await lab!.exec('client', process.execPath, ['--input-type=module', '-e', code])).stdout.trim();
    };
    assert.equal(await get('/'), '200 name=b2');
    await get('/__fail?status=503');
    assert.equal(await get('/health'), '503 name=b2');
    await get('/__ok');
    assert.equal(await get('/'), '200 name=b2');
  });

  it('cleanupStale removes only namespaces whose owner is gone', async () => {
    await execa('ip', ['netns', 'add', 'hatzzzzz-x']);
    const removed = await cleanupStale();
    assert.ok(removed.includes('hatzzzzz-x'), JSON.stringify(removed));
    assert.ok((await hasPrefix(lab!.prefix)).length > 0, 'live lab must survive cleanupStale');
  });

  it('destroy() leaves no namespace with the prefix', async () => {
    const l = lab!;
    assert.equal((await hasPrefix(l.prefix)).length, 6); // sw + client + lb1 + b1..b3
    await l.destroy();
    assert.deepEqual(await hasPrefix(l.prefix), []);
    assert.ok(servers.every((s) => s.exited));
  });

  it('withLab destroys the lab when the body throws', async () => {
    let prefix = '';
    await assert.rejects(
      withLab(tiny, async (l) => {
        prefix = l.prefix;
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.notEqual(prefix, '');
    assert.deepEqual(await hasPrefix(prefix), []);
  });

  // The exit hooks only matter when a whole process dies, so exercise them in a child process.
  const topologyUrl = pathToFileURL(new URL('./topology.js', import.meta.url).pathname).href;
  const child = (tail: string): string =>
    `const { createLab } = await import(${JSON.stringify(topologyUrl)});
     const lab = await createLab(${JSON.stringify(tiny)});
     lab.spawn('h1', 'sleep', ['30']);
     console.log(lab.prefix);
     ${tail}`;

  for (const [what, tail, signal] of [
    ['an uncaught exception', "setTimeout(() => { throw new Error('crash'); }, 10);", undefined],
    ['SIGINT', 'setInterval(() => {}, 1000);', 'SIGINT'],
    ['SIGTERM', 'setInterval(() => {}, 1000);', 'SIGTERM'],
  ] as const) {
    it(`a process dying of ${what} still deletes its namespaces`, async () => {
      const proc = execa(process.execPath, ['--input-type=module', '-e', child(tail)], { reject: false, timeout: 10_000, buffer: true });
      let prefix = '';
      proc.stdout?.on('data', (d: Buffer) => {
        prefix ||= d.toString().trim();
        if (signal) proc.kill(signal);
      });
      const r = await proc;
      assert.match(prefix, /^hat[0-9a-z]{5}$/, `child output: ${String(r.stdout)} ${String(r.stderr)}`);
      if (signal) assert.equal(r.signal, signal);
      else assert.match(String(r.stderr), /crash/);
      assert.deepEqual(await hasPrefix(prefix), []);
    });
  }
});
