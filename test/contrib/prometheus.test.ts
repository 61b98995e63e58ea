// contrib/prometheus: promtool accepts every rules file, the alerts fire as their promtool unit
// tests say (test/contrib/ha-agent.rules.test.yml), and they only use metrics the agent exports.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { parse } from 'yaml';
import { needsProgram } from '../support/root.js';
import { repoPath } from '../support/repo.js';
import { exportedNames, namesIn } from './exported.js';

const dir = repoPath('contrib', 'prometheus');
const files = readdirSync(dir).filter((f) => f.endsWith('.yml')).map((f) => `${dir}/${f}`);

interface Rule { alert?: string; record?: string; expr: string }

describe('contrib/prometheus alert rules', () => {
  it('pass promtool check rules', needsProgram('promtool'), async () => {
    assert.ok(files.length > 0);
    const r = await execa('promtool', ['check', 'rules', ...files], { reject: false });
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /FAILED|error/i);
  });

  it('pass their promtool unit tests', needsProgram('promtool'), async () => {
    const r = await execa('promtool', ['test', 'rules', repoPath('test', 'contrib', 'ha-agent.rules.test.yml')], { reject: false });
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /SUCCESS/);
  });

  it('cover the failures an operator must hear of, with metrics the agent exports', async () => {
    const exported = await exportedNames();
    const rules = files.flatMap((f) => (parse(readFileSync(f, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules));
    for (const rule of rules) {
      for (const name of namesIn(rule.expr)) assert.ok(exported.has(name), `${rule.alert ?? rule.record}: ${name} is not exported by the agent`);
    }
    const alerts = new Set(rules.map((r) => r.alert));
    for (const name of ['HaAgentBackendDown', 'HaAgentFarmNoUsableBackend', 'HaAgentDataplaneOutOfSync', 'HaAgentVrrpSplitBrain',
      'HaAgentVrrpFlapping', 'HaAgentClusterDisconnected', 'HaAgentAdminDisagreement', 'HaAgentClusterStoreDataLoss']) {
      assert.ok(alerts.has(name), `${name} is defined`);
    }
    // The unit tests exercise every alert.
    const tested = readFileSync(repoPath('test', 'contrib', 'ha-agent.rules.test.yml'), 'utf8');
    for (const name of alerts) assert.match(tested, new RegExp(`alertname: ${name}\\b`), `${name} has a promtool unit test`);
  });
});
