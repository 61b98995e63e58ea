// The cluster's secret keys and the notify section: what validation says (as `path: message`,
// never with the password in it), what the files must hold, and check-config's warnings about
// secrets every local user can read (a warning line, exit 0).

import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { formatIssues, loadConfigFile, parseConfigText } from '../../config/load.js';
import { redactUrl } from '../../config/net.js';
import { exposureWarnings, parsePasswordText } from '../../config/secrets.js';
import { config, farm } from './cases/yaml.js';

const CLI = fileURLToPath(new URL('../../agent/cli/ha-agent.js', import.meta.url));
const SECRET = 'Sup3r-s3cret';
let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'ha-agent-secrets-config-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const issues = (yaml: string): string => {
  const r = parseConfigText(yaml);
  return r.ok ? '' : formatIssues(r.issues);
};
const withCluster = (cluster: string, extra = '') => config([farm()], `cluster: ${cluster}\n${extra}`);

describe('parsePasswordText', () => {
  const rows: [string, string | { problem: string }][] = [
    [`${SECRET}\n`, SECRET], [SECRET, SECRET], [`${SECRET}\r\n`, SECRET], [` ${SECRET} \n`, ` ${SECRET} `],
    ['', { problem: 'is empty; put the password on its one line' }], ['\n', { problem: 'is empty; put the password on its one line' }],
    [`${SECRET}\n# old: x\n`, { problem: 'holds more than one line; put the password alone on its one line' }],
  ];
  for (const [text, want] of rows) it(`${JSON.stringify(text)}`, () => assert.deepEqual(parsePasswordText(text), want));
});

describe('redactUrl', () => {
  const rows: [string, string][] = [
    [`redis://u:${SECRET}@h:6379/0`, 'redis://u:***@h:6379/0'],
    [`redis://:p@ss/w@h:6379`, 'redis://:***@h:6379'],
    [`redis:/u:${SECRET}@h`, '***@h'],
    ['redis://u@h', 'redis://u@h'],
    ['redis://h:6379/0', 'redis://h:6379/0'],
  ];
  for (const [text, want] of rows) it(`${text} -> ${want}`, () => assert.equal(redactUrl(text), want));
});

test('the cluster rules name both keys, and never the password', () => {
  const rows: [string, string][] = [
    [`{ redis: "redis://u:${SECRET}@10.0.0.5:6379/0", password_file: /etc/ha-agent/redis.pass }`,
      'cluster.password_file: cluster.redis has a password in the URL too; keep one: the URL without its password, or no password_file'],
    [`{ redis: "redis://u:${SECRET}@10.0.0.5:99999/0" }`, 'cluster.redis: "redis://u:***@10.0.0.5:99999/0": port 99999 is outside 1-65535'],
    [`{ redis: "redis:/u:${SECRET}@10.0.0.5" }`, 'cluster.redis: "***@10.0.0.5" is not a redis:// or rediss:// URL; expected a URL like redis://127.0.0.1:6379/0 (rediss:// for TLS)'],
    [`{ redis: "redis://10.0.0.5/0?password=${SECRET}" }`, 'cluster.redis: "redis://10.0.0.5/0": options after ? or # are not read (not shown here: they may hold a password); use the cluster keys (password_file, tls)'],
    ['{ redis: "redis://10.0.0.5", tls: { ca: /etc/ssl/ca.pem } }', 'cluster.tls: cluster.redis is a plain redis:// URL; write rediss:// to connect with TLS'],
    ['{ redis: "rediss://10.0.0.5", tls: { cert: /etc/ssl/c.pem } }', 'cluster.tls.key: a client certificate needs both cert and key'],
    ['{ redis: "rediss://10.0.0.5", tls: { ca: etc/ca.pem } }', 'cluster.tls.ca: "etc/ca.pem" is not an absolute path'],
    ['{ redis: "redis://10.0.0.5", sentinel_password_file: /etc/s.pass }', 'cluster.sentinel_password_file: is for sentinels; this cluster connects to cluster.redis directly'],
    ['{ redis: "redis://u@10.0.0.5", username: u }', 'cluster.username: cluster.redis names a user in the URL too; keep one'],
    ['{ redis: "rediss://10.0.0.5", tls: { verify: false } }', 'cluster.tls.verify: unknown key; expected one of ca, cert, key, servername'],
  ];
  for (const [cluster, want] of rows) assert.equal(issues(withCluster(cluster)), want, cluster);
  for (const [cluster] of rows) assert.ok(!issues(withCluster(cluster)).includes(SECRET), cluster);
  assert.equal(issues(withCluster(`{ sentinels: ["10.0.0.1:26379"], sentinel_name: m, username: u, sentinel_username: s, sentinel_password_file: /etc/s.pass, password_file: /etc/p.pass, tls: { ca: /etc/ca.pem } }`)), '');
});

test('the notify rules', () => {
  const rows: [string, string][] = [
    ['[{ on: [backend, vrrp], exec: [/bin/true, "{farm}", "{backend}", "{from}", "{to}", "{reason}", "{node}", "{event}", "{\\"a\\":1}"] }]', ''],
    ['[{ on: [cluster], webhook: "https://alerts.example/hook/T0K3N?x=1", timeout: 2s }]', ''],
    ['[{ on: [backend, vrrm], exec: [/bin/true] }]', 'notify[0].on[1]: "vrrm" is not one of backend, vrrp, cluster, apply-error'],
    ['[{ on: [], exec: [/bin/true] }]', 'notify[0].on: needs at least one event: backend, vrrp, cluster, apply-error'],
    ['[{ on: [backend], exec: [] }]', 'notify[0].exec: the command is empty; give a list of arguments like [/usr/local/bin/page, "{farm}"]'],
    ['[{ on: [backend], exec: "/bin/page {farm}" }]', 'notify[0].exec: expected the command as a list of arguments like [/usr/local/bin/page, "{farm}"], got "/bin/page {farm}"'],
    ['[{ on: [backend] }]', 'notify[0].exec: give exec (a command) or webhook (a URL)'],
    ['[{ on: [backend], exec: [/bin/true], webhook: "http://h/" }]', 'notify[0].webhook: give exec or webhook, not both'],
    ['[{ on: [backend], exec: [/bin/true, "{backnd}"] }]', 'notify[0].exec[1]: unknown token {backnd}; the tokens are {farm} {backend} {from} {to} {reason} {node} {event}'],
    ['[{ on: [backend], exec: ["/opt/{farm}/page"] }]', 'notify[0].exec[0]: the program cannot hold a token ({farm}); pass it as an argument'],
    ['[{ on: [backend], webhook: "ftp://h/x" }]', 'notify[0].webhook: "ftp://h/x" is not an http:// or https:// URL'],
    [`[{ on: [backend], webhook: "https://u:${SECRET}@h/x" }]`, 'notify[0].webhook: "https://u:***@h/x" has a user or password in it, which fetch refuses; put a token in the path or query'],
    ['[{ on: [backend], webhook: "not a url" }]', 'notify[0].webhook: "not a url" is not a URL; expected one like https://alerts.example/hook'],
    ['[{ on: [backend], exec: [/bin/true], timeout: 0s }]', 'notify[0].timeout: "0s" is zero; expected a duration like 250ms, 2s or 1m'],
    ['[{ on: [backend], exec: [/bin/true], shell: true }]', 'notify[0].shell: unknown key; expected one of on, exec, webhook, timeout'],
  ];
  for (const [notify, want] of rows) assert.equal(issues(config([farm()], `notify: ${notify}\n`)), want, notify);
});

describe('the files a config names', () => {
  it('must be there and hold a password: check-config, run and reload refuse the config otherwise', async () => {
    const empty = join(dir, 'empty.pass');
    await writeFile(empty, '\n');
    const file = join(dir, 'files.yaml');
    await writeFile(file, withCluster(`{ redis: "rediss://u@10.0.0.5/0", password_file: ${empty}, tls: { ca: ${join(dir, 'missing.pem')} } }`,
      `notify: [{ on: [backend], exec: [no-such-pager-program] }]\n`));
    const r = await loadConfigFile(file);
    assert.equal(r.ok ? '' : formatIssues(r.issues), [
      'notify[0].exec[0]: "no-such-pager-program" is not on PATH',
      `cluster.password_file: ${empty} is empty; put the password on its one line`,
      `cluster.tls.ca: cannot read ${join(dir, 'missing.pem')}: no such file`,
    ].join('\n'));
  });
});

describe('check-config warnings', () => {
  const run = (file: string) => execa(process.execPath, [CLI, 'check-config', file], { reject: false, timeout: 20_000 });

  it('warn (exit 0) when a password every user can read is in the config or in its file; not for group-readable ones', async () => {
    const inline = join(dir, 'inline.yaml');
    await writeFile(inline, withCluster(`{ redis: "redis://u:${SECRET}@10.0.0.5:6379/0" }`));
    await chmod(inline, 0o644);
    const passFile = join(dir, 'redis.pass');
    await writeFile(passFile, `${SECRET}\n`);
    await chmod(passFile, 0o604);
    const byFile = join(dir, 'byfile.yaml');
    await writeFile(byFile, withCluster(`{ redis: "redis://u@10.0.0.5:6379/0", password_file: ${passFile} }`));
    await chmod(byFile, 0o644);

    const a = await run(inline);
    assert.equal(a.exitCode, 0, a.stderr);
    assert.equal(a.stderr, `warning: ${inline} holds the Redis password (in cluster.redis) and is readable by every user (mode 0644); chmod o-r ${inline}`);
    const b = await run(byFile);
    assert.equal(b.exitCode, 0, b.stderr);
    assert.equal(b.stderr, `warning: ${passFile} holds a secret (cluster.password_file) and is readable by every user (mode 0604); chmod o-r ${passFile}`);
    for (const r of [a, b]) assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET));

    await chmod(inline, 0o640);
    await chmod(passFile, 0o640);
    for (const file of [inline, byFile]) {
      const r = await run(file);
      assert.deepEqual([r.exitCode, r.stderr], [0, ''], file);
    }
    assert.deepEqual(await exposureWarnings(byFile, undefined), []);
  });

  it('an invalid config with a password in it prints errors without the password (exit 2)', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, withCluster(`{ redis: "redis://u:${SECRET}@10.0.0.5:0/x", password_file: ${join(dir, 'nope')} }`));
    const r = await run(file);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /cluster\.redis: "redis:\/\/u:\*\*\*@10\.0\.0\.5:0\/x": port 0/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET), r.stderr);
  });
});
