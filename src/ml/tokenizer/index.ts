/** Byte-level BPE: training, encode/decode, Hugging Face tokenizer.json. */
export { BpeTokenizer, EOT, TokenizerError, type Merge, type SpecialToken } from './bpe.ts';
export { countWords, trainBpe, trainBpeFromCounts, type TrainOptions } from './train.ts';
export { fromHuggingFaceJson, loadTokenizer, serializeTokenizer, toHuggingFaceJson, tokenizerConfigJson } from './hf-json.ts';
export { preTokenize, GPT2_PATTERN } from './pretokenize.ts';
export {
  countTrainingWords,
  encodeLinesToFile,
  type TokenFileStats,
} from './token-files.ts';
