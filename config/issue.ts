// One problem in a config, as check-config prints it: `path: message`. Its own module, so that
// the schema's helpers (secrets, hooks) can report issues without importing the semantic checks.

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}
