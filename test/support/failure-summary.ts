// A node:test reporter that prints, after the whole run, one block naming every failed test:
// its file, its suite path and the first lines of its error. The TAP stream stays the main
// output; CI keeps only the tail of a long log, so without this block a failure 700 tests
// before the end is invisible there.

interface TestEventData {
  name: string;
  nesting: number;
  file?: string;
  details?: { error?: unknown };
}

interface TestEvent {
  type: string;
  data?: TestEventData;
}

/** Error text of a failed test: node:test wraps the thrown error as `cause`. */
export function errorText(error: unknown, maxLines = 6): string {
  const inner = error instanceof Error && error.cause !== undefined ? error.cause : error;
  const text = inner instanceof Error ? (inner.stack ?? inner.message) : String(inner);
  return text.split("\n").slice(0, maxLines).join("\n");
}

export default async function* failureSummary(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  // Suites that enclose a test are announced (test:start) before it fails; keep the current
  // path per nesting level so a leaf failure can be named "file > suite > test".
  const path: string[] = [];
  const failures: string[] = [];
  for await (const event of source) {
    const data = event.data;
    if (data === undefined) continue;
    if (event.type === "test:start") {
      path.length = data.nesting;
      path[data.nesting] = data.name;
    } else if (event.type === "test:fail") {
      const error = data.details?.error;
      // A suite fails because a subtest did; the subtest's own entry says why.
      if (error instanceof Error && /^\d+ subtests? failed$/.test(error.message)) continue;
      const names = [...path.slice(0, data.nesting), data.name].join(" > ");
      failures.push(`# FAILED ${data.file ?? "?"}: ${names}\n${indent(errorText(error))}`);
    }
  }
  if (failures.length > 0) yield `\n# ${failures.length} failed:\n${failures.join("\n")}\n`;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `#     ${line}`)
    .join("\n");
}
