/** Model configurations from the params (`model.block_size`, `model.small`, `model.large`). */
import { gptConfig, type ModelConfig } from '../../src/ml/core/config.ts';
import type { Params } from './params.ts';

export function modelConfigFromParams(p: Params, which: 'small' | 'large', vocabSize: number): ModelConfig {
  const key = `model.${which}`;
  return gptConfig({
    vocabSize,
    blockSize: p.num('model.block_size'),
    nLayer: p.num(`${key}.n_layer`),
    nHead: p.num(`${key}.n_head`),
    nEmbd: p.num(`${key}.n_embd`),
  });
}
