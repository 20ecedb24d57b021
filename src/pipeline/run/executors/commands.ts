/**
 * A stage's `cmd` as the commands an executor runs one by one. DVC runs each line of a multi-line
 * `cmd: |` block as its own command and stops at the first that fails; running the block through a
 * single `sh -c` would only look at the last line's status and record a failed stage as done.
 *
 * Lines are split the way DVC splits them, with one difference: a line that leaves a shell
 * construct open is run together with the lines that complete it, so that `if … fi`, `for … done`,
 * `{ … }`, a quoted string spanning lines, a trailing `&&`/`|`, a backslash continuation or a
 * here-document run as one command (DVC would run their lines separately and fail on the syntax).
 * Whether a chunk is complete is asked of the shell itself (`sh -n`), not guessed here.
 */
import { spawnSync } from 'node:child_process';

/** Each item of `cmd`, multi-line items split into their logical commands; blank lines dropped. */
export function commandsOf(cmd: readonly string[]): string[] {
  return cmd.flatMap((c) => (c.includes('\n') ? splitLines(c) : [c]));
}

function splitLines(block: string): string[] {
  const lines = block.split('\n').map((l) => l.replace(/\r$/, ''));
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    if (isBlank(lines[i])) {
      i++;
      continue;
    }
    // Grow the chunk until the shell accepts it; a chunk that never completes runs as its first
    // line alone, so the shell reports that line's syntax error and the stage stops there.
    let end = extend(lines, i);
    let chunk = lines.slice(i, end).join('\n');
    while (!parses(chunk) && end < lines.length) {
      end = extend(lines, end);
      chunk = lines.slice(i, end).join('\n');
    }
    if (!parses(chunk)) {
      end = extend(lines, i);
      chunk = lines.slice(i, end).join('\n');
    }
    out.push(chunk);
    i = end;
  }
  return out;
}

function isBlank(line: string): boolean {
  return /^\s*(#.*)?$/.test(line);
}

/**
 * The end (exclusive) of the physical lines that line `i` runs into on its own terms: backslash
 * continuations, and the bodies of here-documents it opens. The shell's `-n` check cannot tell
 * these apart from complete commands (it reads an unterminated here-document up to end of input).
 */
function extend(lines: string[], i: number): number {
  let j = i;
  let line = lines[j++];
  while (/(^|[^\\])(\\\\)*\\$/.test(line) && j < lines.length) line = lines[j++];
  const text = lines.slice(i, j).join('\n');
  for (const m of text.matchAll(/(?<!<)<<(-?)[ \t]*(?:'([^']+)'|"([^"]+)"|\\?([A-Za-z0-9_.-]+))/g)) {
    const word = m[2] ?? m[3] ?? m[4];
    const stripTabs = m[1] === '-';
    while (j < lines.length) {
      const body = lines[j++];
      if ((stripTabs ? body.replace(/^\t+/, '') : body) === word) break;
    }
  }
  return j;
}

const parseCache = new Map<string, boolean>();

const RESERVED = /^\s*(if|then|else|elif|fi|case|esac|for|while|until|do|done|select|function)(\s|;|$)/;

/**
 * A single line that cannot open a construct: quotes balanced, no brackets, braces, backticks or
 * here-documents, no reserved word first, no trailing operator. Most lines of a DVC `cmd: |`
 * (`python train.py --lr 0.1 && cp a b`) are like this; asking the shell costs a process each.
 */
function obviouslyComplete(line: string): boolean {
  if (line.includes('\n') || RESERVED.test(line) || /(\\|&&|\|\||\|)\s*$/.test(line)) return false;
  // Drop quoted segments ('…' literal; "…" with backslash escapes); an unbalanced quote remains.
  const bare = line.replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, '');
  return !/['"`(){}\\]|<</.test(bare);
}

/** Whether /bin/sh (what runs the command) reads `chunk` as complete commands. */
function parses(chunk: string): boolean {
  if (obviouslyComplete(chunk)) return true;
  let ok = parseCache.get(chunk);
  if (ok === undefined) {
    ok = spawnSync('/bin/sh', ['-n', '-c', chunk], { stdio: 'ignore' }).status === 0;
    parseCache.set(chunk, ok);
  }
  return ok;
}
