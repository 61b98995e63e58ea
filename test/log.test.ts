// The logger as journald and operators see it: syslog priorities in front of each line only when
// stdout is the journal (JOURNAL_STREAM names it), plain JSON lines otherwise; the level from
// `log.level`, HA_AGENT_LOG_LEVEL over it, and a bad one refused with a line that names it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { pino } from 'pino';
import { effectiveLogLevel, isJournalStream, journalDestination, journalPriority } from '../agent/log.js';
import { parseConfigText } from '../config/load.js';
import { haAgentBin } from './support/agent.js';
import { repoPath } from './support/repo.js';

const PRIORITIES: [string, number, number][] = [
  ['trace', 10, 7], ['debug', 20, 7], ['info', 30, 6], ['warn', 40, 4], ['error', 50, 3], ['fatal', 60, 2],
];
for (const [name, level, want] of PRIORITIES) test(`journalPriority(${name}) = <${want}>`, () => assert.equal(journalPriority(level), want));

/** A temporary file open for writing, its JOURNAL_STREAM value, and a way to read and remove it. */
function tempStream() {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-log-'));
  const path = join(dir, 'out');
  const fd = openSync(path, 'w');
  const stat = fstatSync(fd, { bigint: true });
  return {
    fd, journal: `${stat.dev}:${stat.ino}`, other: `${stat.dev}:${stat.ino + 1n}`,
    read: () => readFileSync(path, 'utf8'),
    remove: () => { closeSync(fd); rmSync(dir, { recursive: true, force: true }); },
  };
}

test('isJournalStream: JOURNAL_STREAM must name the very file the fd is', () => {
  const s = tempStream();
  try {
    assert.equal(isJournalStream({ JOURNAL_STREAM: s.journal }, s.fd), true);
    assert.equal(isJournalStream({ JOURNAL_STREAM: s.other }, s.fd), false, 'inherited from a parent whose stdout was the journal');
    assert.equal(isJournalStream({}, s.fd), false);
    for (const bad of ['', 'x:y', `${s.journal}:1`, ` ${s.journal}`]) assert.equal(isJournalStream({ JOURNAL_STREAM: bad }, s.fd), false, bad);
  } finally {
    s.remove();
  }
  assert.equal(isJournalStream({ JOURNAL_STREAM: '1:1' }, 987_654), false, 'a closed fd');
});

test('journalDestination: each line starts with its priority, children included, the JSON untouched', () => {
  const lines: string[] = [];
  const out = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const logger = pino({ level: 'trace', base: null, timestamp: false }, journalDestination(out));
  logger.trace('t');
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error({ err: 'boom' }, 'e');
  logger.child({ component: 'vrrp' }).warn('child');
  logger.fatal('f');
  assert.deepEqual(lines, [
    '<7>{"level":10,"msg":"t"}\n',
    '<7>{"level":20,"msg":"d"}\n',
    '<6>{"level":30,"msg":"i"}\n',
    '<4>{"level":40,"msg":"w"}\n',
    '<3>{"level":50,"err":"boom","msg":"e"}\n',
    '<4>{"level":40,"component":"vrrp","msg":"child"}\n',
    '<2>{"level":60,"msg":"f"}\n',
  ]);
});

/** What createLogger() writes to stdout in a process whose stdout is `s`, with `env`. */
function loggedBy(env: { JOURNAL_STREAM?: string }): string[] {
  const s = tempStream();
  try {
    const script = `const { createLogger } = await import(${JSON.stringify(repoPath('dist/agent/log.js'))});
const logger = createLogger('debug'); logger.debug('d'); logger.info('i'); logger.warn('w'); logger.error('e');`;
    // The fd itself as stdout, as systemd hands the child its journal stream (no pipe between).
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', s.fd, 'pipe'], env: env.JOURNAL_STREAM === 'SELF' ? { JOURNAL_STREAM: s.journal } : env, timeout: 20_000,
    });
    assert.equal(r.status, 0, String(r.stderr));
    return s.read().split('\n').filter(Boolean);
  } finally {
    s.remove();
  }
}

test('createLogger on stdout: <N> prefixes when stdout is the journal', () => {
  const lines = loggedBy({ JOURNAL_STREAM: 'SELF' });
  assert.deepEqual(lines.map((l) => l.slice(0, 3)), ['<7>', '<6>', '<4>', '<3>']);
  assert.deepEqual(lines.map((l) => (JSON.parse(l.slice(3)) as { msg: string }).msg), ['d', 'i', 'w', 'e']);
});

test('createLogger on stdout: plain JSON lines when stdout is not the journal, even with JOURNAL_STREAM set', () => {
  for (const env of [{}, { JOURNAL_STREAM: '1:2' }] as const) {
    const lines = loggedBy(env);
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['d', 'i', 'w', 'e'], JSON.stringify(env));
  }
});

test('effectiveLogLevel: HA_AGENT_LOG_LEVEL over log.level; unset or empty leaves the config\'s', () => {
  assert.equal(effectiveLogLevel('warn', {}), 'warn');
  assert.equal(effectiveLogLevel('warn', { HA_AGENT_LOG_LEVEL: '' }), 'warn');
  assert.equal(effectiveLogLevel('warn', { HA_AGENT_LOG_LEVEL: 'Debug' }), 'debug');
  assert.equal(effectiveLogLevel(undefined, {}), 'info');
  assert.throws(() => effectiveLogLevel('warn', { HA_AGENT_LOG_LEVEL: 'loud' }),
    { message: 'HA_AGENT_LOG_LEVEL: "loud" is not a log level; use one of trace, debug, info, warn, error, fatal, silent' });
});

const HEADER = 'node: { id: lb1 }\n';
const LEVELS: [string, string, string | undefined][] = [
  ['absent: info', '', 'info'],
  ['an empty section: info', 'log: {}\n', 'info'],
  ['debug', 'log: { level: debug }\n', 'debug'],
  ['error', 'log: { level: error }\n', 'error'],
  ['a level that is none', 'log: { level: verbose }\n', undefined],
  ['fatal is no config level', 'log: { level: fatal }\n', undefined],
  ['a number', 'log: { level: 30 }\n', undefined],
  ['an unknown key', 'log: { lvl: debug }\n', undefined],
];
for (const [name, yaml, want] of LEVELS) {
  test(`log.level: ${name}`, () => {
    const r = parseConfigText(HEADER + yaml);
    if (want === undefined) assert.equal(r.ok, false, `${yaml} must be refused`);
    else {
      assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
      assert.equal(r.config.log.level, want);
    }
  });
}

test('check-config refuses a bad log.level with a line naming the key and the levels, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-log-'));
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `${HEADER}log: { level: verbose }\n`);
    const r = await execa(process.execPath, [haAgentBin, 'check-config', file], { reject: false, timeout: 20_000 });
    assert.equal(r.exitCode, 2, r.stdout);
    assert.equal(r.stderr, 'log.level: "verbose" is not one of trace, debug, info, warn, error');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
