// Atomic writes: concurrent writers of one file each land whole (a shared temporary name would
// make one writer rename the other's half-written file, or fail to find its own), nothing is
// left behind on success or failure, and the mode is the one asked for.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeFileAtomic, writeIfChanged } from '../../agent/state/atomic-write.js';

describe('writeFileAtomic', () => {
  const root = mkdtempSync(join(tmpdir(), 'ha-agent-atomic-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('creates the directory and the file with the mode asked for', async () => {
    const path = join(root, 'new', 'state.json');
    await writeFileAtomic(path, 'one\n', 0o640);
    assert.equal(readFileSync(path, 'utf8'), 'one\n');
    const umask = process.umask();
    assert.equal(statSync(path).mode & 0o777, 0o640 & ~umask);
    assert.deepEqual(readdirSync(join(root, 'new')), ['state.json']);
  });

  it('lets concurrent writers of one file each write whole; the last rename wins', async () => {
    const dir = join(root, 'race');
    const path = join(dir, 'marks.json');
    const contents = Array.from({ length: 20 }, (_, i) => `${String(i).repeat(50_000)}\n`);
    const results = await Promise.allSettled(contents.map((text) => writeFileAtomic(path, text)));
    assert.deepEqual(results.filter((r) => r.status === 'rejected'), []);
    assert.ok(contents.includes(readFileSync(path, 'utf8')), 'the file holds one whole write');
    assert.deepEqual(readdirSync(dir), ['marks.json'], 'no temporary left behind');
  });

  it('leaves the old file and no temporary when the rename fails', async () => {
    const dir = join(root, 'fail');
    mkdirSync(join(dir, 'taken'), { recursive: true });
    await assert.rejects(writeFileAtomic(join(dir, 'taken'), 'x'), /EISDIR/);
    assert.deepEqual(readdirSync(dir), ['taken']);
  });

  it('writeIfChanged writes only a different text', async () => {
    const path = join(root, 'keepalived.conf');
    assert.equal(await writeIfChanged(path, 'a\n'), true);
    const inode = statSync(path).ino;
    assert.equal(await writeIfChanged(path, 'a\n'), false);
    assert.equal(statSync(path).ino, inode, 'the same file, not rewritten');
    assert.equal(await writeIfChanged(path, 'b\n'), true);
    assert.equal(readFileSync(path, 'utf8'), 'b\n');
  });
});
