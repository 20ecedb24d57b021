/** Small helpers for reading and writing `HostWeights` (name → row-major Float32Array). */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { weightShapes } from '../core/config.ts';

export type Tensor = { shape: number[]; data: Float32Array };

/** Thrown when a growth request cannot be honoured; the message says what to change. */
export class GrowthError extends Error {
  override name = 'GrowthError';
}

export function get(w: HostWeights, name: string): Tensor {
  const t = w.get(name);
  if (!t) throw new GrowthError(`weight "${name}" is missing from the source model; is its config.json right?`);
  return t;
}

export function zeros(shape: number[]): Tensor {
  return { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}

/** Checks that a weight map has exactly the names and shapes `cfg` implies. */
export function checkWeights(cfg: ModelConfig, w: HostWeights, what: string): void {
  for (const { name, shape } of weightShapes(cfg)) {
    const t = w.get(name);
    if (!t) throw new GrowthError(`${what}: weight "${name}" is missing`);
    if (t.shape.join(',') !== shape.join(',')) {
      throw new GrowthError(`${what}: weight "${name}" has shape [${t.shape}] but its config implies [${shape}]`);
    }
  }
}

export function std(data: Float32Array): number {
  let s = 0;
  let s2 = 0;
  for (const x of data) {
    s += x;
    s2 += x * x;
  }
  const m = s / data.length;
  return Math.sqrt(Math.max(0, s2 / data.length - m * m));
}

/** A deep copy, so operators never alias their inputs. */
export function cloneWeights(w: HostWeights): HostWeights {
  const out: HostWeights = new Map();
  for (const [k, t] of w) out.set(k, { shape: [...t.shape], data: new Float32Array(t.data) });
  return out;
}

export function layerNames(i: number) {
  const p = `transformer.h.${i}`;
  return {
    ln1w: `${p}.ln_1.weight`,
    ln1b: `${p}.ln_1.bias`,
    attnW: `${p}.attn.c_attn.weight`,
    attnB: `${p}.attn.c_attn.bias`,
    attnProjW: `${p}.attn.c_proj.weight`,
    attnProjB: `${p}.attn.c_proj.bias`,
    ln2w: `${p}.ln_2.weight`,
    ln2b: `${p}.ln_2.bias`,
    fcW: `${p}.mlp.c_fc.weight`,
    fcB: `${p}.mlp.c_fc.bias`,
    mlpProjW: `${p}.mlp.c_proj.weight`,
    mlpProjB: `${p}.mlp.c_proj.bias`,
  };
}

export const WTE = 'transformer.wte.weight';
export const WPE = 'transformer.wpe.weight';
export const LNF_W = 'transformer.ln_f.weight';
export const LNF_B = 'transformer.ln_f.bias';
