// The cluster's secrets (Redis and Sentinel passwords, TLS keys) live in files the config names,
// never in the validated Config: they are read where a connection is made, and no message built
// here ever holds their content, only the file's path and what is wrong with it.

import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ConfigIssue } from './issue.js';

/** The cluster section's keys read here (structural: schema.ts validates with these rules). */
export interface ClusterSecretKeys {
  readonly redis?: string | undefined;
  readonly sentinels?: readonly unknown[] | undefined;
  readonly username?: string | undefined;
  readonly sentinel_username?: string | undefined;
  readonly password_file?: string | undefined;
  readonly sentinel_password_file?: string | undefined;
  readonly tls?: { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined; readonly servername?: string | undefined } | undefined;
}

/** What the cluster section's files hold; kept by the Redis client only. */
export interface ClusterSecrets {
  readonly password?: string;
  readonly sentinelPassword?: string;
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer; readonly servername?: string };
}

/** A secret file that cannot be used; the message names the key and the path, never the content. */
export class SecretFileError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'SecretFileError';
  }
}

function errnoReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code ?? 'unreadable';
}

/**
 * A password file's one line: the trailing newline an editor adds is not part of it. Empty, or
 * more than one line, is a mistake (a comment, a second password) better refused than sent.
 */
export function parsePasswordText(text: string): string | { problem: string } {
  const value = text.replace(/\r?\n$/, '');
  if (value === '') return { problem: 'is empty; put the password on its one line' };
  if (/[\r\n]/.test(value)) return { problem: 'holds more than one line; put the password alone on its one line' };
  return value;
}

/** Reads the password in `file`; `key` is the config key naming it, for the message. */
export function readPasswordFile(key: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SecretFileError(key, `cannot read ${file}: ${errnoReason(err)}`);
  }
  const value = parsePasswordText(text);
  if (typeof value !== 'string') throw new SecretFileError(key, `${file} ${value.problem}`);
  return value;
}

function readPem(key: string, file: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new SecretFileError(key, `cannot read ${file}: ${errnoReason(err)}`);
  }
  if (data.length === 0) throw new SecretFileError(key, `${file} is empty`);
  return data;
}

/**
 * Reads every file the cluster section names, synchronously: small files, read when a Redis
 * connection is (re)made, so a rotated password or certificate is used from the next one on.
 */
export function readClusterSecrets(cluster: ClusterSecretKeys): ClusterSecrets {
  const tls = cluster.tls;
  return {
    ...(cluster.password_file ? { password: readPasswordFile('cluster.password_file', cluster.password_file) } : {}),
    ...(cluster.sentinel_password_file ? { sentinelPassword: readPasswordFile('cluster.sentinel_password_file', cluster.sentinel_password_file) } : {}),
    ...(tls ? {
      tls: {
        ...(tls.ca ? { ca: readPem('cluster.tls.ca', tls.ca) } : {}),
        ...(tls.cert ? { cert: readPem('cluster.tls.cert', tls.cert) } : {}),
        ...(tls.key ? { key: readPem('cluster.tls.key', tls.key) } : {}),
        ...(tls.servername ? { servername: tls.servername } : {}),
      },
    } : {}),
  };
}

/** The password written in the URL itself, if any (percent-decoded as ioredis would). */
export function inlinePassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const password = new URL(url).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

type Add = (path: string, message: string) => void;

/** Rules across the cluster's secret keys (pure; the files are checked by hostSecretIssues). */
export function clusterSecretIssues(cluster: ClusterSecretKeys, add: Add): void {
  if (cluster.password_file && inlinePassword(cluster.redis) !== undefined) {
    add('cluster.password_file', 'cluster.redis has a password in the URL too; keep one: the URL without its password, or no password_file');
  }
  if (cluster.username && cluster.redis && /^rediss?:\/\/[^/@]+@/i.test(cluster.redis)) {
    add('cluster.username', 'cluster.redis names a user in the URL too; keep one');
  }
  if (!cluster.sentinels) {
    if (cluster.sentinel_password_file) add('cluster.sentinel_password_file', 'is for sentinels; this cluster connects to cluster.redis directly');
    if (cluster.sentinel_username) add('cluster.sentinel_username', 'is for sentinels; this cluster connects to cluster.redis directly');
  }
  if (cluster.tls && cluster.redis && !/^rediss:\/\//i.test(cluster.redis)) {
    add('cluster.tls', 'cluster.redis is a plain redis:// URL; write rediss:// to connect with TLS');
  }
  if (cluster.tls && Boolean(cluster.tls.cert) !== Boolean(cluster.tls.key)) {
    add(cluster.tls.cert ? 'cluster.tls.key' : 'cluster.tls.cert', 'a client certificate needs both cert and key');
  }
}

/** The files of the cluster section that hold a secret or a TLS input, with their keys. */
function secretFiles(cluster: ClusterSecretKeys): { key: string; file: string; password: boolean }[] {
  const all: [string, string | undefined, boolean][] = [
    ['cluster.password_file', cluster.password_file, true],
    ['cluster.sentinel_password_file', cluster.sentinel_password_file, true],
    ['cluster.tls.ca', cluster.tls?.ca, false],
    ['cluster.tls.cert', cluster.tls?.cert, false],
    ['cluster.tls.key', cluster.tls?.key, false],
  ];
  return all.filter((f): f is [string, string, boolean] => f[1] !== undefined).map(([key, file, password]) => ({ key, file, password }));
}

/** The secret files a config names exist and can be used: check-config, run and reload refuse it otherwise. */
export function hostSecretIssues(cluster: ClusterSecretKeys | undefined): ConfigIssue[] {
  if (!cluster) return [];
  const issues: ConfigIssue[] = [];
  for (const { key, file, password } of secretFiles(cluster)) {
    try {
      if (password) readPasswordFile(key, file);
      else readPem(key, file);
    } catch (err) {
      if (!(err instanceof SecretFileError)) throw err;
      issues.push({ path: key, message: err.message.slice(key.length + 2) });
    }
  }
  return issues;
}

/**
 * check-config's warnings about files holding a secret that every local user can read: the
 * config itself when its URL carries the password, the password files, the TLS key. Readable
 * by the group is not warned about: `root:ha-agent 0640` is how a dedicated service group is
 * given its secrets (as Debian does with ssl-cert and /etc/ssl/private).
 */
export async function exposureWarnings(configPath: string, cluster: ClusterSecretKeys | undefined): Promise<string[]> {
  if (!cluster) return [];
  const candidates: { file: string; holds: string }[] = [];
  if (inlinePassword(cluster.redis) !== undefined) candidates.push({ file: configPath, holds: 'the Redis password (in cluster.redis)' });
  for (const { key, file, password } of secretFiles(cluster)) {
    if (password || key === 'cluster.tls.key') candidates.push({ file, holds: `a secret (${key})` });
  }
  const warnings: string[] = [];
  for (const { file, holds } of candidates) {
    const mode = await stat(file).then((s) => s.mode, () => undefined);
    if (mode === undefined || (mode & 0o004) === 0) continue;
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    warnings.push(`${file} holds ${holds} and is readable by every user (mode ${octal}); chmod o-r ${file}`);
  }
  return warnings;
}
