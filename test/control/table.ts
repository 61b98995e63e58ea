// Reads the backend rows of `agentctl status` output back, so tests compare the table with the JSON.

/** Rows of the backend table under a farm: name -> cells split on 2+ spaces. */
export function tableRows(text: string, farm: string): Map<string, string[]> {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`farm ${farm} `));
  if (start < 0) throw new Error(`no farm ${farm} in:\n${text}`);
  const rows = new Map<string, string[]>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('  ')) break;
    const cells = line.trim().split(/ {2,}/);
    rows.set(cells[0]!, cells);
  }
  return rows;
}
