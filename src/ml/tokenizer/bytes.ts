/**
 * GPT-2's reversible bytes → printable characters mapping: byte-level BPE works on bytes, but
 * tokenizer.json stores tokens as strings, so each byte gets a visible stand-in character
 * (space → 'Ġ', newline → 'Ċ'). The printable Latin-1 bytes map to themselves; the other 68 are
 * shifted to U+0100 and up, in byte order. Every tool that reads GPT-2 style files (Hugging Face
 * tokenizers, tiktoken's converters) expects exactly this table.
 */
function buildTable(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + shifted++);
  return table;
}

export const BYTE_TO_CHAR: readonly string[] = buildTable();
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** tokenizer.json spelling back to bytes; undefined when a character is not in the table. */
export function tokenToBytes(token: string): Uint8Array | undefined {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token[i]);
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}
