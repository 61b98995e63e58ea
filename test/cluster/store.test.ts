// ioredis options from the cluster section.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterSchema } from '../../config/schema.js';
import { redisOptions } from '../../agent/cluster/store.js';

test('sentinels as host:port, bracketed IPv6 included, or as objects', () => {
  const cluster = clusterSchema.parse({ sentinels: ['10.0.0.1:26379', '[::1]:26380', { host: 'fd00::2', port: 26381 }], sentinel_name: 'mymaster' });
  const { options } = redisOptions(cluster);
  assert.equal(options.host, undefined);
  assert.equal(options.name, 'mymaster');
  assert.deepEqual(options.sentinels, [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }, { host: 'fd00::2', port: 26381 }]);
});
