// The cluster's secrets against a real redis-server on loopback, started here with an ACL user
// and TLS (a CA and a server certificate made with openssl): the password comes from its file,
// is read again before a reconnect, and never shows in an error, whatever goes wrong.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { Redis } from 'ioredis';
import { clusterSchema } from '../../config/schema.js';
import { RedisPeerStore } from '../../agent/cluster/store.js';
import { freePort } from '../support/net.js';
import { needsProgram } from '../support/root.js';
import { waitFor } from '../netns/poll.js';

const USER = 'lbagent';
const PASSWORD = 'file-s3cret-Pw';
const WRONG = 'not-the-Pw-42';

/** Wrapped: a subprocess is a promise, and returning it from an async function would wait for its exit. */
async function startRedis(args: string[]): Promise<{ proc: ResultPromise }> {
  const redis = execa('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { reject: false });
  const lines: string[] = [];
  createInterface({ input: redis.stdout! }).on('line', (line) => lines.push(line));
  await waitFor(() => lines.some((l) => l.includes('Ready to accept connections')), { timeoutMs: 10_000, what: `redis-server to start (${lines.slice(-3).join(' | ')})` });
  return { proc: redis };
}

/** Every string the store let out: its last error, and what its listeners heard. */
function watch(store: RedisPeerStore): string[] {
  const said: string[] = [];
  store.onDisconnected((reason) => said.push(reason));
  return said;
}

describe('cluster secrets with a real redis-server', needsProgram('redis-server'), () => {
  let dir = '';
  let redis: ResultPromise | undefined;
  let tlsRedis: ResultPromise | undefined;
  let port = 0;
  let tlsPort = 0;
  const passwordFile = () => join(dir, 'redis.pass');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ha-agent-secrets-'));
    const openssl = (...args: string[]) => execa('openssl', args, { cwd: dir });
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=ha-agent test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=redis.test', '-keyout', 'server.key', '-out', 'server.csr');
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=DNS:redis.test,IP:127.0.0.1\n');
    await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.crt');
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=lb1', '-keyout', 'client.key', '-out', 'client.csr');
    await openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'client.crt');
    await writeFile(join(dir, 'users.acl'), `user default on nopass ~* &* +@all\nuser ${USER} on >${PASSWORD} ~* &* +@all\n`);
    port = await freePort();
    ({ proc: redis } = await startRedis(['--port', String(port), '--aclfile', join(dir, 'users.acl'), '--dir', dir]));
    tlsPort = await freePort();
    ({ proc: tlsRedis } = await startRedis(['--port', '0', '--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'),
      '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'yes', '--aclfile', join(dir, 'users.acl'), '--dir', dir]));
  });
  after(async () => {
    redis?.kill('SIGKILL');
    tlsRedis?.kill('SIGKILL');
    await Promise.allSettled([redis, tlsRedis]);
    await rm(dir, { recursive: true, force: true });
  });

  it('connects with the password from its file (the trailing newline is not part of it)', async () => {
    await writeFile(passwordFile(), `${PASSWORD}\n`, { mode: 0o600 });
    const store = new RedisPeerStore(clusterSchema.parse({ redis: `redis://${USER}@127.0.0.1:${port}/0`, password_file: passwordFile(), name: 'pwfile' }));
    try {
      await store.connect();
      assert.equal(store.connected, true);
      assert.equal(await store.get(store.keys.epoch), null);
    } finally {
      await store.close();
    }
  });

  it('a wrong password is refused with an error that does not hold it', async () => {
    await writeFile(passwordFile(), `${WRONG}\n`);
    const store = new RedisPeerStore(clusterSchema.parse({ redis: `redis://${USER}@127.0.0.1:${port}/0`, password_file: passwordFile(), name: 'wrong' }));
    const said = watch(store);
    try {
      const err = await store.connect().then(() => undefined, (e: Error) => e);
      assert.ok(err, 'connected with a wrong password');
      assert.match(store.lastError ?? '', /WRONGPASS/);
      const everything = [err.message, err.stack ?? '', store.lastError ?? '', ...said, JSON.stringify(err, Object.getOwnPropertyNames(err))].join('\n');
      assert.ok(!everything.includes(WRONG), `the password leaked: ${everything}`);
    } finally {
      await store.close();
    }
  });

  it('the same with the password inline in the URL', async () => {
    const store = new RedisPeerStore(clusterSchema.parse({ redis: `redis://${USER}:${WRONG}@127.0.0.1:${port}/0`, name: 'inline' }));
    try {
      const err = await store.connect().then(() => undefined, (e: Error) => e);
      assert.ok(err);
      const everything = [err.message, err.stack ?? '', store.lastError ?? '', JSON.stringify(err, Object.getOwnPropertyNames(err))].join('\n');
      assert.ok(!everything.includes(WRONG), `the password leaked: ${everything}`);
    } finally {
      await store.close();
    }
  });

  it('an unreachable Redis: the error names the address, not the password', async () => {
    const closed = await freePort();
    const store = new RedisPeerStore(clusterSchema.parse({ redis: `redis://${USER}:${PASSWORD}@127.0.0.1:${closed}/0`, name: 'gone' }));
    try {
      const err = await store.connect().then(() => undefined, (e: Error) => e);
      assert.ok(err);
      assert.match(store.lastError ?? '', /ECONNREFUSED/);
      assert.ok(![err.message, err.stack, store.lastError].join('\n').includes(PASSWORD));
    } finally {
      await store.close();
    }
  });

  it('reads a rotated password file again before it reconnects', async () => {
    await writeFile(passwordFile(), `${PASSWORD}\n`);
    const admin = new Redis({ port, host: '127.0.0.1' });
    const store = new RedisPeerStore(clusterSchema.parse({ redis: `redis://${USER}@127.0.0.1:${port}/0`, password_file: passwordFile(), name: 'rotate' }));
    try {
      await store.connect();
      const rotated = 'rotated-Pw-7';
      await admin.call('ACL', 'SETUSER', USER, 'resetpass', `>${rotated}`);
      await writeFile(passwordFile(), `${rotated}\n`);
      await admin.client('KILL', 'USER', USER);
      await waitFor(() => !store.connected, { timeoutMs: 5000, what: 'the store to see the kill' });
      await waitFor(() => store.connected, { timeoutMs: 10_000, what: `the store to reconnect with the new password (${store.lastError})` });
    } finally {
      await admin.call('ACL', 'SETUSER', USER, 'resetpass', `>${PASSWORD}`);
      admin.disconnect();
      await store.close();
    }
  });

  it('connects over TLS (rediss://) with the CA, a client certificate and the server name', async () => {
    await writeFile(passwordFile(), `${PASSWORD}\n`);
    const store = new RedisPeerStore(clusterSchema.parse({
      redis: `rediss://${USER}@127.0.0.1:${tlsPort}/0`, password_file: passwordFile(), name: 'tls',
      tls: { ca: join(dir, 'ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key'), servername: 'redis.test' },
    }));
    try {
      await store.connect();
      assert.equal(store.connected, true);
      assert.equal(await store.get(store.keys.epoch), null);
    } finally {
      await store.close();
    }
  });

  it('refuses a server whose certificate the CA did not sign, naming why and not the password', async () => {
    await writeFile(passwordFile(), `${PASSWORD}\n`);
    // Without `ca` the system's CAs are used, which never signed the test CA.
    const store = new RedisPeerStore(clusterSchema.parse({
      redis: `rediss://${USER}@127.0.0.1:${tlsPort}/0`, password_file: passwordFile(), name: 'tls-untrusted',
      tls: { cert: join(dir, 'client.crt'), key: join(dir, 'client.key') },
    }));
    try {
      const err = await store.connect().then(() => undefined, (e: Error) => e);
      assert.ok(err, 'connected to an untrusted server');
      assert.match(store.lastError ?? '', /certificate/i);
      assert.ok(![err.message, store.lastError].join('\n').includes(PASSWORD));
    } finally {
      await store.close();
    }
  });
});
