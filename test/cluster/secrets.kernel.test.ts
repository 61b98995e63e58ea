// No secret in anything the agent lets out: a real daemon in a netns lab, clustered through a real
// redis-server with an ACL user, its password in a file or inline in the URL. Every log line,
// `agentctl status --json`, `agentctl config diff`, /metrics and every error path (a wrong
// password, Redis unreachable, an invalid config on reload) is searched for the password.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { waitForChain } from '../support/agent.js';
import { clusterFarmsYaml, createClusterLab, REDIS_IP, REDIS_PASSWORD, REDIS_PORT, REDIS_USER, type ClusterLab } from './lab.js';

const METRICS = '127.0.0.1:9798';
const WRONG = 'Wr0ng-but-still-secret';

describe('cluster secrets never leave the agent', needsRoot(), () => {
  let c: ClusterLab;
  const dir = () => c.dirs[0]!;
  const passFile = () => join(dir().dir, 'redis.pass');
  /** lb1's config: the cluster section as given, metrics on. */
  const writeConfig = (cluster: string) => dir().write(
    `node: { id: lb1, state_dir: ${join(dir().dir, 'state')}, run_dir: ${join(dir().dir, 'run')} }\n` +
    `control: { socket: ${dir().socket}, metrics: "${METRICS}" }\ncluster: ${cluster}\nfarms:\n${clusterFarmsYaml()}`);
  const byFile = () => `{ redis: "redis://${REDIS_USER}@${REDIS_IP}:${REDIS_PORT}/0", password_file: ${passFile()}, heartbeat: 250ms, heartbeat_ttl: 1500ms }`;

  /** Everything the agent printed and answered, as one text. */
  async function everything(): Promise<string> {
    const agent = c.agents[0]!;
    const script = `const r = await fetch('http://${METRICS}/metrics'); process.stdout.write(await r.text());`;
    const metrics = await c.lab.exec('lb1', process.execPath, ['--input-type=module', '-e', script]);
    const status = await c.ctl(0, ['status', '--json']);
    const diff = await c.ctl(0, ['config', 'diff']);
    const events = await c.ctl(0, ['events', '-n', '100', '--json']);
    assert.match(metrics.stdout, /ha_agent_cluster_state/);
    return [...agent.lines, ...agent.stderrLines, metrics.stdout, status.stdout, status.stderr, diff.stdout, diff.stderr, events.stdout, events.stderr].join('\n');
  }

  before(async () => {
    c = await createClusterLab({ lbs: 1, backends: 2, farmsYaml: clusterFarmsYaml(), cluster: '{ redis: "redis://127.0.0.1:1" }' });
    await c.lab.serveName('b1');
    await c.lab.serveName('b2');
  });
  after(() => c?.destroy());

  it('password from a file: connected; logs, status, config diff and metrics do not hold it', async () => {
    writeFileSync(passFile(), `${REDIS_PASSWORD}\n`, { mode: 0o600 });
    writeConfig(byFile());
    await c.startAgent(0);
    await waitForChain(c.lab, 'lb1', 'web', [0, 1], 10_000);
    await waitFor(async () => JSON.parse((await c.ctl(0, ['status', '--json'])).stdout).cluster.state === 'connected',
      { timeoutMs: 10_000, what: 'lb1 connected to Redis with the password from its file' });
    const text = await everything();
    assert.ok(!text.includes(REDIS_PASSWORD), 'the password leaked');
  });

  it('Redis unreachable, then back: the disconnect and reconnect say why, without the password', async () => {
    await c.stopRedis();
    await waitFor(async () => JSON.parse((await c.ctl(0, ['status', '--json'])).stdout).cluster.state === 'disconnected', { timeoutMs: 10_000, what: 'the disconnect' });
    await c.startRedis();
    await waitFor(async () => JSON.parse((await c.ctl(0, ['status', '--json'])).stdout).cluster.state === 'connected', { timeoutMs: 15_000, what: 'the reconnect' });
    const text = await everything();
    assert.match(text, /cluster disconnected/);
    assert.ok(!text.includes(REDIS_PASSWORD), 'the password leaked');
  });

  it('an invalid config on reload, with the password inline: the errors name the keys, not the password', async () => {
    writeConfig(`{ redis: "redis://${REDIS_USER}:${REDIS_PASSWORD}@${REDIS_IP}:0/0", password_file: ${passFile()} }`);
    const reload = await c.ctl(0, ['reload']);
    assert.equal(reload.exitCode, 1);
    assert.match(reload.stdout + reload.stderr, /cluster\.redis: "redis:\/\/lbagent:\*\*\*@10\.1\.0\.50:0\/0": port 0/);
    assert.match(reload.stdout + reload.stderr, /cluster\.password_file: cluster\.redis has a password in the URL too/);
    await c.agents[0]!.waitForLine(/reload refused/, 5000);
    const text = await everything();
    assert.ok(!text.includes(REDIS_PASSWORD), 'the password leaked');
    await c.agents[0]!.stop(3000);
  });

  it('a wrong password (in the file, then inline): refused, said so, and neither password printed', async () => {
    writeFileSync(passFile(), `${WRONG}\n`);
    writeConfig(byFile());
    await c.startAgent(0);
    await c.agents[0]!.waitForLine(/refused the credentials/, 10_000);
    let text = await everything();
    assert.match(text, /WRONGPASS/);
    assert.ok(!text.includes(WRONG) && !text.includes(REDIS_PASSWORD), 'a password leaked');
    await c.agents[0]!.stop(3000);

    writeConfig(`{ redis: "redis://${REDIS_USER}:${WRONG}@${REDIS_IP}:${REDIS_PORT}/0" }`);
    await c.startAgent(0);
    await c.agents[0]!.waitForLine(/refused the credentials/, 10_000);
    text = await everything();
    assert.ok(!text.includes(WRONG), 'the inline password leaked');
  });
});
