// The man pages (packaging/man/*.md rendered to roff by packaging/man/render.mjs): man renders
// them without a warning, and every command and long option of ha-agent and agentctl, as their
// --help declares it, is documented in its page; ha-agent.yaml(5) carries the example config.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../support/repo.js';
import { commandTree, type Cli } from './cli-help.js';

/** The page as man shows it (plain text, 200 columns so that nothing is hyphenated), and man's warnings. */
function showPage(page: string): { text: string; warnings: string } {
  const roff = execFileSync(process.execPath, [repoPath('packaging/man/render.mjs'), '--version', '0.0.0-test', '--date', '2026-01-01',
    repoPath(`packaging/man/${page}.md`)], { encoding: 'utf8' });
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-man-'));
  try {
    const file = join(dir, page);
    writeFileSync(file, roff);
    const r = spawnSync('man', ['--warnings', '-l', file], { encoding: 'utf8', env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '200', LC_ALL: 'C.UTF-8' } });
    assert.equal(r.status, 0, r.stderr);
    return { text: r.stdout.replace(/‐/g, '-'), warnings: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const [cli, page] of [['ha-agent', 'ha-agent.8'], ['agentctl', 'agentctl.8']] as [Cli, string][]) {
  test(`${page} documents every command and option of ${cli}`, () => {
    const { text, warnings } = showPage(page);
    assert.equal(warnings, '', `man warns about ${page}`);
    for (const { path, options } of commandTree(cli)) {
      if (path.length > 0) assert.ok(text.includes(path.join(' ')), `${page} does not document "${cli} ${path.join(' ')}"`);
      for (const option of options) assert.ok(text.includes(option), `${page} does not document ${option} (${[cli, ...path].join(' ')})`);
    }
  });
}

test('ha-agent.yaml.5 carries the example config line for line', () => {
  const { text, warnings } = showPage('ha-agent.yaml.5');
  assert.equal(warnings, '');
  const example = readFileSync(repoPath('packaging/config.yaml'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  for (const line of example) assert.ok(text.includes(line.trimEnd()), `the page lacks: ${line}`);
});
