import assert from "node:assert/strict";
import { describe, test } from "node:test";
import failureSummary, { errorText } from "./failure-summary.js";

async function collect(events: { type: string; data?: { name: string; nesting: number; file?: string; details?: { error?: unknown } } }[]): Promise<string> {
  async function* source() {
    yield* events;
  }
  let out = "";
  for await (const chunk of failureSummary(source())) out += chunk;
  return out;
}

function wrapped(message: string): Error {
  return new Error("test failed", { cause: new Error(message) });
}

describe("failure summary reporter", () => {
  test("names each failed leaf test with its file and suite path, and its error", async () => {
    const out = await collect([
      { type: "test:start", data: { name: "suite A", nesting: 0, file: "/t/a.test.js" } },
      { type: "test:start", data: { name: "passes", nesting: 1, file: "/t/a.test.js" } },
      { type: "test:pass", data: { name: "passes", nesting: 1, file: "/t/a.test.js" } },
      { type: "test:start", data: { name: "breaks", nesting: 1, file: "/t/a.test.js" } },
      { type: "test:fail", data: { name: "breaks", nesting: 1, file: "/t/a.test.js", details: { error: wrapped("expected 3, got 4") } } },
      { type: "test:fail", data: { name: "suite A", nesting: 0, file: "/t/a.test.js", details: { error: new Error("1 subtest failed") } } },
      { type: "test:start", data: { name: "top-level", nesting: 0, file: "/t/b.test.js" } },
      { type: "test:fail", data: { name: "top-level", nesting: 0, file: "/t/b.test.js", details: { error: wrapped("boom") } } },
    ]);
    assert.match(out, /# 2 failed:/);
    assert.match(out, /# FAILED \/t\/a\.test\.js: suite A > breaks\n#\s+Error: expected 3, got 4/);
    assert.match(out, /# FAILED \/t\/b\.test\.js: top-level\n#\s+Error: boom/);
    assert.doesNotMatch(out, /subtest failed/);
  });

  test("prints nothing when every test passed", async () => {
    const out = await collect([
      { type: "test:start", data: { name: "fine", nesting: 0 } },
      { type: "test:pass", data: { name: "fine", nesting: 0 } },
    ]);
    assert.equal(out, "");
  });

  test("keeps only the first lines of a long error", () => {
    const error = new Error("x");
    error.stack = Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n");
    assert.equal(errorText(error, 3), "line 0\nline 1\nline 2");
  });
});
