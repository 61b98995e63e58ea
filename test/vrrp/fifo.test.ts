// The notify FIFO reader on a real FIFO: whole lines however keepalived's writes are cut, an
// overlong line dropped without losing the next, and what was buffered before a start discarded.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecaRunner } from '../../agent/apply/runner.js';
import { ensureFifo, readFifoLines } from '../../agent/vrrp/fifo.js';
import { MAX_LINE } from '../../agent/vrrp/notify.js';
import { waitFor } from '../netns/poll.js';

describe('notify FIFO reader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-fifo-'));
  const path = join(dir, 'notify.fifo');
  before(() => ensureFifo(path, new ExecaRunner()));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** keepalived's side: a writer of its own, as another process would be. */
  const write = (...parts: string[]) => {
    const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      for (const part of parts) writeSync(fd, part);
    } finally {
      closeSync(fd);
    }
  };

  it('is a FIFO, kept as it is when ensured again', async () => {
    const before = statSync(path);
    assert.ok(before.isFIFO());
    await ensureFifo(path, new ExecaRunner());
    assert.equal(statSync(path).ino, before.ino);
  });

  it('hands over whole lines, drops an overlong one, and goes on after it', async () => {
    const lines: string[] = [];
    const reader = readFifoLines(path, (line) => lines.push(line));
    try {
      write('INSTANCE "VI é" MAS', 'TER 100\n', `GROUP "g" ${'X'.repeat(MAX_LINE)}`, ' FAULT\nINSTANCE "VI é" BACKUP 100\n');
      await waitFor(() => lines.length >= 2, { what: 'two lines' });
      assert.deepEqual(lines, ['INSTANCE "VI é" MASTER 100', 'INSTANCE "VI é" BACKUP 100']);
    } finally {
      reader.close();
    }
  });

  it('with discardBuffered, ignores what was written before it started', async () => {
    // Written while the agent does not read (an earlier keepalived's last words): it waits in the pipe.
    const holder = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      write('INSTANCE "old" STOP 100\n');
      const lines: string[] = [];
      const reader = readFifoLines(path, (line) => lines.push(line), { discardBuffered: true });
      try {
        write('INSTANCE "new" MASTER 100\n');
        await waitFor(() => lines.length >= 1, { what: 'one line' });
        assert.deepEqual(lines, ['INSTANCE "new" MASTER 100']);
      } finally {
        reader.close();
      }
    } finally {
      closeSync(holder);
    }
  });
});
