/**
 * Turning raw text into clean sentences. Every source goes through the same cleaning so that
 * de-duplication and the hash-based split see one canonical spelling of each sentence.
 */

// C0/C1 controls (except the whitespace ones, which collapse to a space below), lone
// surrogates (no UTF-8 file can carry them; they would break the byte-level tokenizer) and the
// byte order mark, which readers leave at the start of a file's first line.
const CONTROL = /[\p{Cc}\p{Cs}\uFEFF]/gu;
const WHITESPACE = /\s+/gu;
// Corpus dumps (TinyStories, GPT-2 style) separate documents with this marker; it is never text,
// and left in a sentence it would become the tokenizer's end-of-text id in mid-sentence.
const DOC_SEPARATOR = /<\|endoftext\|>/g;

/** True for a line that only separates documents in a corpus dump. */
export function isDocumentSeparator(line: string): boolean {
  return line.trim() === '<|endoftext|>';
}

/** <|endoftext|> markers dropped, NFKC, controls removed, whitespace runs collapsed to one space, trimmed. '' means drop it. */
export function cleanSentence(raw: string): string {
  return raw.replace(DOC_SEPARATOR, ' ').normalize('NFKC').replace(WHITESPACE, ' ').replace(CONTROL, '').replace(WHITESPACE, ' ').trim();
}

const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

/**
 * Running text (one paragraph, any line breaks inside) → sentences, with ICU's sentence
 * boundaries (Intl.Segmenter: Unicode UAX #29) rather than a hand-made regex that trips on
 * "e.g." or "Mr.". The pieces still need cleanSentence.
 */
export function splitSentences(paragraph: string): string[] {
  const text = paragraph.replace(WHITESPACE, ' ').trim();
  if (text === '') return [];
  const out: string[] = [];
  for (const { segment } of segmenter.segment(text)) {
    const s = segment.trim();
    if (s !== '') out.push(s);
  }
  return out;
}
