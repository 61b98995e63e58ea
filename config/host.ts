// What a valid config asks of the machine it runs on: the programs, the group and the secret files
// it names are there. Checked when a config is loaded from its file (check-config, run, reload), after the pure
// validation, so that a config check-config accepts does not fail when the daemon starts.

import { resolveGroup } from '../agent/control/group.js';
import type { Config } from './schema.js';
import type { ConfigIssue } from './issue.js';
import { findCheckProgram, findProgram, notFoundMessage, pluginDirs, type CheckSearch } from './program.js';
import { hostSecretIssues } from './secrets.js';

export async function hostIssues(config: Config, search: CheckSearch = {}): Promise<ConfigIssue[]> {
  const found: Promise<ConfigIssue | undefined>[] = [];
  const onPath = { ...(search.path !== undefined ? { path: search.path } : {}), ...(search.cwd !== undefined ? { cwd: search.cwd } : {}) };
  const need = (path: string, program: Promise<string | undefined>, message: () => string): void => {
    found.push(program.then((file) => (file === undefined ? { path, message: message() } : undefined)));
  };
  config.farms.forEach((farm, f) => {
    if (farm.check.type !== 'exec') return;
    const program = farm.check.command[0]!;
    need(`farms[${f}].check.command[0]`, findCheckProgram(program, search), () => notFoundMessage(program, pluginDirs(search)));
  });
  // The agent starts keepalived itself only in spawn mode; it runs conntrackd's control commands in every mode.
  const keepalived = config.vrrp?.keepalived;
  if (keepalived?.mode === 'spawn') need('vrrp.keepalived.binary', findProgram(keepalived.binary, onPath), () => notFoundMessage(keepalived.binary));
  const conntrackd = config.conntrackd;
  if (conntrackd) need('conntrackd.binary', findProgram(conntrackd.binary, onPath), () => notFoundMessage(conntrackd.binary));
  const group = config.control.group;
  if (group !== undefined) found.push(groupIssue(group));
  // Notify hooks run like the daemon's other programs: by path or on PATH (no plugin directories).
  config.notify.forEach((hook, h) => {
    const program = hook.exec?.[0];
    if (program !== undefined) need(`notify[${h}].exec[0]`, findProgram(program, onPath), () => notFoundMessage(program));
  });
  found.push(...hostSecretIssues(config.cluster).map((issue) => Promise.resolve(issue)));
  return (await Promise.all(found)).filter((issue): issue is ConfigIssue => issue !== undefined);
}

/** The control socket's group, looked up the way the control socket will. */
async function groupIssue(group: string): Promise<ConfigIssue | undefined> {
  try {
    await resolveGroup(group);
    return undefined;
  } catch (err) {
    // Its message starts with the key, which the issue's path already names.
    return { path: 'control.group', message: (err as Error).message.replace(/^control\.group /, '') };
  }
}
