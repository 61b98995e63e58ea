// The bash completion (packaging/completion/ha-agent.bash), run by bash with bash-completion as
// a shell would: it offers exactly the commands and long options each command's --help declares,
// and the values some options and arguments take.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { repoPath } from '../support/repo.js';
import { commandTree, type Cli } from './cli-help.js';

const FUNCTIONS: Record<Cli, string> = { 'ha-agent': '_ha_agent', agentctl: '_agentctl' };

/** What <Tab> offers after `line` (which ends where the cursor is). */
function complete(cli: Cli, line: string): string[] {
  const script = `
source /usr/share/bash-completion/bash_completion
source ${JSON.stringify(repoPath('packaging/completion/ha-agent.bash'))}
line=$1
read -ra COMP_WORDS <<<"$line"
[[ $line == *' ' ]] && COMP_WORDS+=('')
COMP_LINE=$line; COMP_POINT=\${#line}; COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=()
${FUNCTIONS[cli]}
printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', script, 'bash', line], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
}

for (const cli of ['ha-agent', 'agentctl'] as const) {
  test(`${cli}: every command and long option, as --help lists them`, () => {
    const tree = commandTree(cli);
    for (const { path, options } of tree) {
      const prefix = [cli, ...path].join(' ');
      const subs = tree.filter((c) => c.path.length === path.length + 1 && c.path.slice(0, -1).join(' ') === path.join(' ')).map((c) => c.path.at(-1)!);
      if (subs.length > 0) assert.deepEqual(complete(cli, `${prefix} `), [...subs, 'help'].sort(), `${prefix} <Tab>`);
      assert.deepEqual(complete(cli, `${prefix} --`), options.sort(), `${prefix} --<Tab>`);
    }
  });
}

test('values: drivers, admin states', () => {
  assert.deepEqual(complete('ha-agent', 'ha-agent render --driver '), ['iptables', 'nftables']);
  assert.deepEqual(complete('agentctl', 'agentctl backend web web1 '), ['drain', 'enable', 'maintenance']);
  assert.deepEqual(complete('agentctl', 'agentctl --socket /run/x.sock st'), ['status']);
});
