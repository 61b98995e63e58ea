// contrib/grafana/ha-agent.json: a well-formed dashboard whose data source is a variable, whose
// panels tile the grid without overlapping, and whose queries parse (promtool, as recording
// rules) and only use metrics the agent exports.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { needsProgram } from '../support/root.js';
import { repoPath } from '../support/repo.js';
import { exportedNames, namesIn } from './exported.js';

interface Target { refId: string; expr: string; datasource: { type: string; uid: string } }
interface Panel {
  id: number; type: string; title: string; datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number }; targets?: Target[]; panels?: Panel[];
}
interface Dashboard {
  uid: string; title: string; schemaVersion: number; panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const dashboard = JSON.parse(readFileSync(repoPath('contrib', 'grafana', 'ha-agent.json'), 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** Grafana's variables, replaced by what PromQL can parse. */
const substitute = (expr: string): string =>
  expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(job|instance|farm)\}?/g, '.*');

describe('contrib/grafana dashboard', () => {
  it('is identified and takes its data source from a variable', () => {
    assert.equal(dashboard.uid, 'ha-agent');
    assert.ok(dashboard.title && dashboard.schemaVersion >= 36);
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource');
    assert.deepEqual([ds?.type, ds?.query], ['datasource', 'prometheus']);
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      assert.deepEqual((v as unknown as { datasource: unknown }).datasource, DATASOURCE, `variable ${v.name}`);
    }
    for (const p of panels.filter((x) => x.type !== 'row')) {
      assert.deepEqual(p.datasource, DATASOURCE, `panel ${p.title}`);
      assert.ok((p.targets ?? []).length > 0, `panel ${p.title} has queries`);
    }
    for (const t of targets) assert.deepEqual(t.datasource, DATASOURCE, `${t.panel} ${t.refId}`);
    assert.doesNotMatch(JSON.stringify(dashboard), /DS_PROMETHEUS|"uid":\s*"(?!\$\{datasource\}|ha-agent|-- Grafana --)/, 'no fixed data source uid');
  });

  it('has unique panel ids and panels that fit the 24-column grid without overlapping', () => {
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique ids');
    for (const [i, a] of panels.entries()) {
      assert.ok(a.gridPos.x >= 0 && a.gridPos.w > 0 && a.gridPos.x + a.gridPos.w <= 24 && a.gridPos.h > 0, `${a.title} fits`);
      for (const b of panels.slice(i + 1)) {
        const apart = a.gridPos.x + a.gridPos.w <= b.gridPos.x || b.gridPos.x + b.gridPos.w <= a.gridPos.x
          || a.gridPos.y + a.gridPos.h <= b.gridPos.y || b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        assert.ok(apart, `${a.title} and ${b.title} overlap`);
      }
    }
  });

  it('queries only exported metrics, and covers backends, shares, checks, applies, drift, VRRP, cluster and notify', async () => {
    const exported = await exportedNames();
    const used = new Set(targets.flatMap((t) => namesIn(t.expr)));
    for (const name of used) assert.ok(exported.has(name), `${name} is not exported by the agent`);
    for (const name of ['ha_agent_backend_up', 'ha_agent_backend_share_ratio', 'ha_agent_backend_health', 'ha_agent_check_duration_seconds_bucket',
      'ha_agent_applies_total', 'ha_agent_apply_errors_total', 'ha_agent_drift_repairs_total', 'ha_agent_vrrp_state', 'ha_agent_cluster_state',
      'ha_agent_cluster_peers', 'ha_agent_cluster_admin_disagreements', 'ha_agent_notify_delivered_total', 'ha_agent_notify_failed_total',
      'ha_agent_notify_dropped_total', 'ha_agent_notify_queued']) {
      assert.ok(used.has(name), `a panel shows ${name}`);
    }
  });

  it('has queries that parse as PromQL (promtool)', needsProgram('promtool'), async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ha-agent-dashboard-'));
    try {
      const rules = targets.map((t, i) => ({ record: `dashboard:query_${i}`, expr: substitute(t.expr) }));
      const file = join(dir, 'queries.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = await execa('promtool', ['check', 'rules', file], { reject: false });
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
