#!/usr/bin/env node
// Renders the man pages' source (a small subset of Markdown, below) to roff, so that the pages
// are written once, read as text in the tree, and built without pandoc or ronn.
//
//   # name(section) -- summary          the title line (first line)
//   ## HEADING                          a section (.SH); ### Heading: a subsection (.SS)
//   * `term` *arg*:                     a tagged paragraph (.TP): the term, then the indented
//     Description, continued lines.     description lines under it
//   * item                              a bullet
//       code                            (indented 4) a literal block; ``` fences too
//   <!-- include ../config.yaml -->     the file (relative to the source) as a literal block
//   `code` **bold** *italic*            inline
//
// Usage: render.mjs --version V --date YYYY-MM-DD SOURCE.md > page.N

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** roff-escapes text: backslashes, and a leading . or ' that roff would take as a request. */
function escape(text) {
  return text.replace(/\\/g, '\\e').replace(/^([.'])/, '\\&$1');
}

/** Literal text: also hyphens, so that options copy-paste as the ASCII minus they are. */
const literal = (text) => escape(text).replace(/-/g, '\\-');

function inline(text) {
  let out = '';
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    out += escape(text.slice(last, m.index));
    if (m[1] !== undefined) out += `\\fB${literal(m[1])}\\fR`;
    else if (m[2] !== undefined) out += `\\fB${escape(m[2])}\\fR`;
    else out += `\\fI${escape(m[3])}\\fR`;
    last = m.index + m[0].length;
  }
  return (out + escape(text.slice(last))).replace(/^\\&?([.'])/, '\\&$1');
}

const block = (lines) => ['.PP', '.RS 4', '.nf', ...lines.map((l) => (l === '' ? '' : literal(l))), '.fi', '.RE'];

export function render(source, { version, date, file }) {
  const lines = source.replace(/\n+$/, '').split('\n');
  const title = /^# ([\w.-]+)\((\d)\) -- (.+)$/.exec(lines[0] ?? '');
  if (!title) throw new Error(`${file}:1: expected "# name(section) -- summary"`);
  const [, name, section, summary] = title;
  const manual = section === '5' ? 'File Formats' : 'System Administration';
  const out = [
    `.\\" Generated from ${file.split('/').pop()} by packaging/man/render.mjs; edit the source.`,
    `.TH "${name.toUpperCase()}" "${section}" "${date}" "ha-agent ${version}" "${manual}"`,
    '.SH NAME', `${escape(name)} \\- ${inline(summary)}`,
  ];
  let paragraph = [];
  const flush = () => {
    if (paragraph.length > 0) out.push(...paragraph.map(inline));
    paragraph = [];
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if (line.trim() === '') {
      flush();
      continue;
    }
    if ((m = /^<!-- include (\S+) -->$/.exec(line))) {
      flush();
      const included = readFileSync(resolve(dirname(file), m[1]), 'utf8').replace(/\n+$/, '').split('\n');
      out.push(...block(included));
    } else if (line.startsWith('```')) {
      flush();
      const code = [];
      while (++i < lines.length && !lines[i].startsWith('```')) code.push(lines[i]);
      out.push(...block(code));
    } else if (line.startsWith('    ') && paragraph.length === 0) {
      const code = [line.slice(4)];
      while (i + 1 < lines.length && (lines[i + 1].startsWith('    ') || lines[i + 1] === '')) code.push(lines[++i].slice(4));
      while (code.at(-1) === '') code.pop();
      out.push(...block(code));
    } else if ((m = /^### (.+)$/.exec(line))) {
      flush();
      out.push(`.SS "${m[1]}"`);
    } else if ((m = /^## (.+)$/.exec(line))) {
      flush();
      out.push(`.SH "${m[1].toUpperCase()}"`);
    } else if ((m = /^\* (.+):$/.exec(line))) {
      flush();
      out.push('.TP', inline(m[1]));
      while (i + 1 < lines.length && /^ {2}\S/.test(lines[i + 1])) out.push(inline(lines[++i].trim()));
    } else if ((m = /^\* (.+)$/.exec(line))) {
      flush();
      out.push('.IP \\(bu 2', inline(m[1]));
      while (i + 1 < lines.length && /^ {2}\S/.test(lines[i + 1])) out.push(inline(lines[++i].trim()));
    } else {
      if (paragraph.length === 0) out.push('.PP');
      paragraph.push(line.trim());
    }
  }
  flush();
  return `${out.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ options: { version: { type: 'string' }, date: { type: 'string' } }, allowPositionals: true });
  if (!values.version || !values.date || positionals.length !== 1) {
    process.stderr.write('usage: render.mjs --version V --date YYYY-MM-DD SOURCE.md\n');
    process.exit(2);
  }
  const file = resolve(positionals[0]);
  process.stdout.write(render(readFileSync(file, 'utf8'), { version: values.version, date: values.date, file }));
}
