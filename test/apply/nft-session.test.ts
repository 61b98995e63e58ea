// The long-lived `nft -i`: each reply belongs to its own transaction (a refused one carries nft's
// error, a committed one nothing), however many run in a row and across a process replaced for
// its history; a silent or dying process is an error, never a hang.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NftSession } from '../../agent/apply/nft-session.js';
import { needsRoot } from '../support/root.js';
import { waitFor } from '../netns/poll.js';

describe('NftSession with a program that is not nft', () => {
  it('a process that never answers is an error after the timeout', async () => {
    const session = new NftSession({ argv: [process.execPath, '-e', 'setTimeout(() => {}, 60_000)', '--'], timeoutMs: 300 });
    await assert.rejects(session.run('add table ip t\n'), /nft -i did not answer within 300 ms/);
    session.close();
  });

  it('a process that exits is an error naming how it ended', async () => {
    const session = new NftSession({ argv: [process.execPath, '-e', 'process.stderr.write("no such thing\\n"); process.exit(3)', '--'], timeoutMs: 5000 });
    await assert.rejects(session.run('add table ip t\n'), /nft -i exited \(3\): no such thing/);
  });

  it('a program that cannot be started is an error', async () => {
    const session = new NftSession({ argv: ['/nonexistent/nft'], timeoutMs: 5000 });
    await assert.rejects(session.run('add table ip t\n'), /nft -i could not run: .*ENOENT/);
  });
});

describe('NftSession in a real namespace', needsRoot(), () => {
  const ns = `hanfts-${randomBytes(4).toString('hex')}`;
  const nft = (...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8' });
  const argv = ['ip', 'netns', 'exec', ns, 'nft'];

  before(() => execFileSync('ip', ['netns', 'add', ns]));
  after(() => execFileSync('ip', ['netns', 'del', ns]));

  it('answers each transaction with its own reply, refused or committed, in order', async () => {
    const session = new NftSession({ argv, timeoutMs: 10_000 });
    try {
      assert.equal(await session.run('add table ip t\nadd chain ip t c\n'), '');
      // Queued at once: the replies must still pair with their transactions.
      const runs = Array.from({ length: 40 }, (_, i) => i % 3 === 0
        ? session.run(`add rule ip t c${i} counter\n`)
        : session.run(`add chain ip t c${i}\n`));
      const replies = await Promise.all(runs);
      replies.forEach((reply, i) => {
        if (i % 3 === 0) {
          assert.match(reply, /Error: /, `transaction ${i} was refused`);
          assert.match(reply, new RegExp(`add rule ip t c${i} counter`), `and the reply is its own (${i})`);
          assert.doesNotMatch(reply, /ha-agent-end-of-reply/);
        } else {
          assert.equal(reply, '', `transaction ${i} committed`);
        }
      });
      const chains = nft('list', 'table', 'ip', 't').match(/chain c\d+/g) ?? [];
      assert.equal(chains.length, replies.filter((r) => r === '').length, 'exactly the committed chains exist');
    } finally {
      session.close();
    }
  });

  it('a refused transaction changes nothing, though its first commands were valid', async () => {
    const session = new NftSession({ argv, timeoutMs: 10_000 });
    try {
      assert.equal(await session.run('add table ip u\n'), '');
      const reply = await session.run('add chain ip u first\nadd rule ip u absent counter\n');
      assert.match(reply, /Error: Could not process rule: No such file or directory/);
      assert.doesNotMatch(nft('list', 'table', 'ip', 'u'), /chain first/);
    } finally {
      session.close();
    }
  });

  it('replaces its process after maxLines and keeps answering', async () => {
    const session = new NftSession({ argv, timeoutMs: 10_000, maxLines: 3 });
    const sessions = () => execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
    try {
      assert.equal(await session.run('add table ip v\n'), '');
      const first = sessions();
      for (let i = 0; i < 7; i++) assert.equal(await session.run(`add chain ip v c${i}\n`), '');
      assert.match(await session.run('add rule ip v nothere counter\n'), /Error: /);
      // A replaced nft exits once it has read its end of input.
      const now = await waitFor(() => sessions().length === 1 && sessions(), { what: 'one nft left' });
      assert.notDeepEqual(now, first, 'a new process');
    } finally {
      session.close();
    }
  });
});
