/**
 * GPT-2's pre-tokenizer: text is cut into words (with their leading space), numbers, runs of
 * punctuation and whitespace before BPE runs inside each piece, so merges never cross a word
 * boundary. The same pattern is what Hugging Face's ByteLevel pre-tokenizer applies
 * (`use_regex: true`), which keeps our ids identical to theirs.
 */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The pieces of `text`; together they are exactly `text` (every character matches some branch). */
export function preTokenize(text: string): string[] {
  return text.match(GPT2_PATTERN) ?? [];
}
