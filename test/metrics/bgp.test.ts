// The BGP metrics agree with the status's bgp block they are set from: sessions, BFD, what is
// announced, drain and speaker restarts; peers a reload removes lose their series.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMetrics } from '../../agent/metrics/registry.js';
import { buildStatus } from '../../agent/control/status.js';
import type { BgpStatus } from '../../agent/bgp/bird-status.js';
import { sampleInput } from '../control/fakes.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

const PEERS: BgpStatus['peers'] = [
  { address: '10.51.0.1', state: 'established', bfd: 'up' },
  { address: '10.51.0.2', state: 'connecting', bfd: 'down' },
  { address: '2001:db8::1', state: 'established', bfd: 'disabled' },
];

const scrape = async (metrics: AgentMetrics, bgp?: BgpStatus) =>
  parsePrometheusText(await metrics.scrape(buildStatus({ ...sampleInput(), ...(bgp ? { bgp } : {}) })));

const series = (m: Map<string, { samples: { labels: Record<string, string> }[] }>, name: string) =>
  m.get(name)?.samples.map((s) => s.labels.peer).sort() ?? [];

describe('BGP metrics', () => {
  it('without bgp: state disabled, no per-peer series, zeros', async () => {
    const m = await scrape(new AgentMetrics({ processMetrics: false }));
    assert.equal(valueOf(m, 'ha_agent_bgp_state', { state: 'disabled' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_state', { state: 'established' }), 0);
    assert.deepEqual(series(m, 'ha_agent_bgp_session_up'), []);
    assert.deepEqual(series(m, 'ha_agent_bgp_bfd_up'), []);
    assert.equal(valueOf(m, 'ha_agent_bgp_announced_prefixes'), 0);
    assert.equal(valueOf(m, 'ha_agent_bgp_drained'), 0);
  });

  it('sessions, BFD, announcements and restarts as the status says', async () => {
    const m = await scrape(new AgentMetrics({ processMetrics: false }),
      { state: 'established', peers: PEERS, announced: ['10.60.0.100/32', '10.60.0.53/32'], speaker_restarts: 2 });
    assert.equal(valueOf(m, 'ha_agent_bgp_state', { state: 'established' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_state', { state: 'disabled' }), 0);
    assert.equal(valueOf(m, 'ha_agent_bgp_session_up', { peer: '10.51.0.1' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_session_up', { peer: '10.51.0.2' }), 0);
    assert.equal(valueOf(m, 'ha_agent_bgp_session_up', { peer: '2001:db8::1' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_bfd_up', { peer: '10.51.0.1' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_bfd_up', { peer: '10.51.0.2' }), 0);
    // A peer without BFD has no BFD session to alert on.
    assert.deepEqual(series(m, 'ha_agent_bgp_bfd_up'), ['10.51.0.1', '10.51.0.2']);
    assert.equal(valueOf(m, 'ha_agent_bgp_announced_prefixes'), 2);
    assert.equal(valueOf(m, 'ha_agent_bgp_drained'), 0);
    assert.equal(valueOf(m, 'ha_agent_bgp_speaker_restarts_total'), 2);
    assert.equal(m.get('ha_agent_bgp_speaker_restarts_total')!.type, 'counter');
  });

  it('drained, then a reload that removes a peer', async () => {
    const metrics = new AgentMetrics({ processMetrics: false });
    await scrape(metrics, { state: 'established', peers: PEERS, announced: ['10.60.0.100/32'] });
    const m = await scrape(metrics, { state: 'drained', peers: PEERS.slice(0, 1), announced: [] });
    assert.equal(valueOf(m, 'ha_agent_bgp_state', { state: 'drained' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_drained'), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_announced_prefixes'), 0);
    assert.deepEqual(series(m, 'ha_agent_bgp_session_up'), ['10.51.0.1']);
    // External mode keeps no BIRD of its own: nothing restarted.
    assert.equal(valueOf(m, 'ha_agent_bgp_speaker_restarts_total'), 0);
  });
});
