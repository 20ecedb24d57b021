/**
 * ligo — a learned linear growth operator (LiGO, Wang et al., ICLR 2023), extended to n sources.
 *
 * Every large weight is a linear function of the frozen small weights. For source m and each kind
 * of unit t ∈ {residual, attention, MLP} there are two learned maps, Out_t,m and In_t,m
 * ([units0, units1]), tied across layers; depth is a learned mixture D_k [L1, L0] per weight kind k:
 *
 *   W'_l = Σ_m In_m^T ( Σ_j D_k[l, j] W_{m,j} ) Out_m        (W is [in, out])
 *   b'_l = Σ_m ( Σ_j D_k[l, j] b_{m,j} ) Out_m
 *   wte' = Σ_m wte_m Out_res,m,   LayerNorm gains/biases through Out_res,m,
 *   ln_f gain and bias additionally multiplied by a learned vector s.
 *
 * Initialisation is the merge operator (Out = In = the block selection of model m), with LEMON's
 * mean channels when d1 > n·d0 (Out_res column = 1/(n·d0) everywhere, LN gains ×ρ, ε ×ρ²) and
 * depth as stack_zero (new blocks' output projections mixed with weight 0) or stack. So step 0 is
 * exactly merge(+stack_zero). The operator is then trained for K steps of Adam on the large model's
 * language-model loss — the forward goes through the materialisation, so gradients reach the maps —
 * and the result is materialised once into a plain checkpoint.
 *
 * Differences from the paper, on purpose: the maps are learned in full (the paper's [I; Â] fixes
 * the identity block; here it is only the starting point), and the n sources each get their own
 * maps so the operator can learn how to combine them. Weight decay is 0 (Adam = AdamW with wd 0):
 * the maps should stay near their function-preserving start unless the loss says otherwise.
 */
import * as tf from '../backend/tf.ts';
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { attnDim, weightShapes } from '../core/config.ts';
import { loss } from '../core/model.ts';
import { stepFlops } from '../core/flops.ts';
import { GrowthError, LNF_B, LNF_W, WPE, WTE, get, layerNames } from './weights.ts';
import type { SourceModel } from './index.ts';

export interface TokenBatch {
  /** Inputs and next-token targets, row-major [batch, seq]. */
  x: Int32Array;
  y: Int32Array;
  batch: number;
  seq: number;
}

export interface LigoOptions {
  steps: number;
  lr: number;
  /** The training batch for a step (deterministic in the step, so runs reproduce). */
  batchAt: (step: number) => TokenBatch;
  /** New layers at initialisation: identity blocks (exact, default) or copies (G_stack). */
  depthInit?: 'stack_zero' | 'stack';
  onStep?: (step: number, loss: number) => void;
}

export interface LigoResult {
  cfg: ModelConfig;
  weights: HostWeights;
  /** Training FLOPs of the operator: K × (materialisation + large-model step), forward + backward. */
  flops: number;
  losses: number[];
}

const KINDS = ['ln1', 'attn', 'attnProj', 'ln2', 'fc', 'mlpProj'] as const;
type Kind = (typeof KINDS)[number];
const OUTPUT_KINDS: Kind[] = ['attnProj', 'mlpProj'];

/** Selection of model m's units inside the merged layout, plus mean columns for extra units. */
function blockMap(n0: number, n1: number, m: number, n: number, meanExtra: boolean): Float32Array {
  const a = new Float32Array(n0 * n1);
  for (let i = 0; i < n0; i++) {
    a[i * n1 + m * n0 + i] = 1;
    if (meanExtra) for (let j = n * n0; j < n1; j++) a[i * n1 + j] = 1 / (n * n0);
  }
  return a;
}

/** The operator's parameters and its materialisation. Call `materialize` inside tf.tidy. */
export class LigoOperator {
  readonly cfg: ModelConfig;
  readonly vars: tf.Variable[] = [];
  private readonly src: ModelConfig;
  private readonly n: number;
  private readonly rho: number;
  private readonly maps: { res: [tf.Variable, tf.Variable]; attn: [tf.Variable, tf.Variable]; mlp: [tf.Variable, tf.Variable] }[] = [];
  private readonly depth: Record<Kind, tf.Variable>;
  private readonly lnfScale: [tf.Variable, tf.Variable];
  /** Frozen small weights: per source, per kind, the L0 layers stacked (rows = layers). */
  private readonly small: { layers: Record<string, tf.Tensor>; wte: tf.Tensor; wpe: tf.Tensor; lnfW: tf.Tensor; lnfB: tf.Tensor }[];
  /** Forward FLOPs of one materialisation, counted on the first call (shapes are static). */
  materializeFlops = 0;

  constructor(sources: SourceModel[], target: ModelConfig, depthInit: 'stack_zero' | 'stack' = 'stack_zero') {
    const src = sources[0].cfg;
    const n = sources.length;
    if (
      target.nEmbd < n * src.nEmbd ||
      target.nHead < n * src.nHead ||
      target.nInner < n * src.nInner ||
      target.headSize !== src.headSize ||
      target.nLayer < src.nLayer
    ) {
      throw new GrowthError(
        `ligo starts from the merge of ${n} models (d${n * src.nEmbd} h${n * src.nHead}×${src.headSize} f${n * src.nInner} L${src.nLayer}); ` +
          `the target (d${target.nEmbd} h${target.nHead}×${target.headSize} f${target.nInner} L${target.nLayer}) must be at least that large with the same head size`,
      );
    }
    this.src = src;
    this.n = n;
    this.rho = Math.sqrt((n * src.nEmbd) / target.nEmbd);
    this.cfg = { ...target, lnEps: src.lnEps * this.rho * this.rho };
    const v = (data: Float32Array, shape: number[], name: string) => {
      const init = tf.tensor(data, shape);
      const t = tf.variable(init, true, `ligo/${name}`);
      init.dispose(); // the variable holds its own reference to the data
      this.vars.push(t);
      return t;
    };
    const a0 = attnDim(src);
    const a1 = attnDim(target);
    const d0 = src.nEmbd;
    const d1 = target.nEmbd;
    for (let m = 0; m < n; m++) {
      this.maps.push({
        res: [v(blockMap(d0, d1, m, n, false), [d0, d1], `in_res_${m}`), v(blockMap(d0, d1, m, n, d1 > n * d0), [d0, d1], `out_res_${m}`)],
        attn: [v(blockMap(a0, a1, m, n, false), [a0, a1], `in_attn_${m}`), v(blockMap(a0, a1, m, n, false), [a0, a1], `out_attn_${m}`)],
        mlp: [
          v(blockMap(src.nInner, target.nInner, m, n, false), [src.nInner, target.nInner], `in_mlp_${m}`),
          v(blockMap(src.nInner, target.nInner, m, n, false), [src.nInner, target.nInner], `out_mlp_${m}`),
        ],
      });
    }
    const L0 = src.nLayer;
    const L1 = target.nLayer;
    this.depth = Object.fromEntries(
      KINDS.map((k) => {
        const D = new Float32Array(L1 * L0);
        for (let l = 0; l < L1; l++) D[l * L0 + (l % L0)] = depthInit === 'stack_zero' && l >= L0 && OUTPUT_KINDS.includes(k) ? 0 : 1;
        return [k, v(D, [L1, L0], `depth_${k}`)];
      }),
    ) as Record<Kind, tf.Variable>;
    // ln_f averages the n models (1/n); its gain also undoes the variance change (ρ). Mean
    // channels (if any) start at 0: they must not reach the tied logits.
    const sGain = new Float32Array(d1).fill(this.rho / n, 0, n * d0);
    const sBias = new Float32Array(d1).fill(1 / n, 0, n * d0);
    this.lnfScale = [v(sGain, [d1], 'lnf_gain_scale'), v(sBias, [d1], 'lnf_bias_scale')];
    this.small = sources.map(({ weights: w }) => {
      const layers: Record<string, tf.Tensor> = {};
      const keys = Object.keys(layerNames(0)) as (keyof ReturnType<typeof layerNames>)[];
      for (const key of keys) {
        const ts = Array.from({ length: L0 }, (_, l) => get(w, layerNames(l)[key]));
        const flat = new Float32Array(ts.reduce((a, t) => a + t.data.length, 0));
        ts.forEach((t, l) => flat.set(t.data, l * t.data.length));
        layers[key] = tf.keep(tf.tensor(flat, [L0, ts[0].data.length]));
      }
      const keep = (name: string) => tf.keep(tf.tensor(get(w, name).data, get(w, name).shape));
      return { layers, wte: keep(WTE), wpe: keep(WPE), lnfW: keep(LNF_W), lnfB: keep(LNF_B) };
    });
  }

  private count = true;

  private mm(a: tf.Tensor, b: tf.Tensor, transposeA = false): tf.Tensor {
    if (this.count) {
      const [m, k] = transposeA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
      this.materializeFlops += 2 * m * k * b.shape[1]!;
    }
    return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, transposeA, false);
  }

  /** The large model's weights as tensors (differentiable in the operator's variables). */
  materialize(): Record<string, tf.Tensor> {
    const { src, n } = this;
    const L1 = this.cfg.nLayer;
    const d0 = src.nEmbd;
    const a0 = attnDim(src);
    const f0 = src.nInner;
    const out: Record<string, tf.Tensor> = {};
    const acc = (name: string, t: tf.Tensor) => (out[name] = out[name] ? tf.add(out[name], t) : t);
    for (let m = 0; m < n; m++) {
      const S = this.small[m];
      const { res, attn, mlp } = this.maps[m];
      acc(WTE, this.mm(S.wte, res[1]));
      acc(WPE, this.mm(S.wpe, res[1]));
      acc(LNF_W, this.mm(tf.reshape(S.lnfW, [1, d0]), res[1]));
      acc(LNF_B, this.mm(tf.reshape(S.lnfB, [1, d0]), res[1]));
      // Depth first: [L1, L0] @ [L0, size] mixes the small layers of each kind for every large layer.
      const mix = (key: keyof ReturnType<typeof layerNames>, kind: Kind) => tf.unstack(this.mm(this.depth[kind], S.layers[key]));
      const mixed = {
        ln1w: mix('ln1w', 'ln1'),
        ln1b: mix('ln1b', 'ln1'),
        attnW: mix('attnW', 'attn'),
        attnB: mix('attnB', 'attn'),
        attnProjW: mix('attnProjW', 'attnProj'),
        attnProjB: mix('attnProjB', 'attnProj'),
        ln2w: mix('ln2w', 'ln2'),
        ln2b: mix('ln2b', 'ln2'),
        fcW: mix('fcW', 'fc'),
        fcB: mix('fcB', 'fc'),
        mlpProjW: mix('mlpProjW', 'mlpProj'),
        mlpProjB: mix('mlpProjB', 'mlpProj'),
      };
      const row = (t: tf.Tensor, cols: number) => tf.reshape(t, [-1, cols]);
      const sandwich = (inMap: tf.Tensor, W: tf.Tensor, outMap: tf.Tensor) => this.mm(inMap, this.mm(W, outMap), true);
      for (let l = 0; l < L1; l++) {
        const k = layerNames(l);
        acc(k.ln1w, tf.mul(this.mm(row(mixed.ln1w[l], d0), res[1]), this.rho));
        acc(k.ln1b, this.mm(row(mixed.ln1b[l], d0), res[1]));
        const qkvW = tf.split(row(mixed.attnW[l], 3 * a0), 3, 1);
        acc(
          k.attnW,
          tf.concat(
            qkvW.map((W) => sandwich(res[0], W, attn[1])),
            1,
          ),
        );
        const qkvB = tf.split(row(mixed.attnB[l], 3 * a0), 3, 1);
        acc(
          k.attnB,
          tf.concat(
            qkvB.map((b) => this.mm(b, attn[1])),
            1,
          ),
        );
        acc(k.attnProjW, sandwich(attn[0], row(mixed.attnProjW[l], d0), res[1]));
        acc(k.attnProjB, this.mm(row(mixed.attnProjB[l], d0), res[1]));
        acc(k.ln2w, tf.mul(this.mm(row(mixed.ln2w[l], d0), res[1]), this.rho));
        acc(k.ln2b, this.mm(row(mixed.ln2b[l], d0), res[1]));
        acc(k.fcW, sandwich(res[0], row(mixed.fcW[l], f0), mlp[1]));
        acc(k.fcB, this.mm(row(mixed.fcB[l], f0), mlp[1]));
        acc(k.mlpProjW, sandwich(mlp[0], row(mixed.mlpProjW[l], d0), res[1]));
        acc(k.mlpProjB, this.mm(row(mixed.mlpProjB[l], d0), res[1]));
      }
    }
    out[LNF_W] = tf.mul(out[LNF_W], this.lnfScale[0]);
    out[LNF_B] = tf.mul(out[LNF_B], this.lnfScale[1]);
    // Biases and gains were computed as [1, k] rows: give every weight its checkpoint shape. A
    // reshape shares its input's data, and the stock wasm _FusedMatMul checks the *data's* rank
    // for its bias, so rank-1 weights are materialised as new data (× 1) rather than as views.
    for (const { name, shape } of weightShapes(this.cfg)) {
      const t = tf.reshape(out[name], shape);
      out[name] = shape.length === 1 ? tf.mul(t, 1) : t;
    }
    this.count = false;
    return out;
  }

  /** Materialises once into plain host weights (the checkpoint M1'); async, as webgpu reads back only so. */
  async toHostWeights(): Promise<HostWeights> {
    const ts = tf.tidy(() => this.materialize());
    try {
      const host: HostWeights = new Map();
      for (const [name, t] of Object.entries(ts))
        host.set(name, { shape: [...t.shape], data: new Float32Array((await t.data()) as Float32Array) });
      return host;
    } finally {
      tf.dispose(Object.values(ts));
    }
  }

  dispose(): void {
    tf.dispose(this.vars);
    for (const s of this.small) tf.dispose([...Object.values(s.layers), s.wte, s.wpe, s.lnfW, s.lnfB]);
  }
}

/** Trains the operator for `steps` Adam steps on the large model's LM loss, then materialises it. */
export async function growLigo(sources: SourceModel[], target: ModelConfig, opts: LigoOptions): Promise<LigoResult> {
  const op = new LigoOperator(sources, target, opts.depthInit);
  const optimizer = tf.train.adam(opts.lr);
  const losses: number[] = [];
  let flops = 0;
  try {
    for (let step = 0; step < opts.steps; step++) {
      const b = opts.batchAt(step);
      const l = tf.tidy(() => {
        const x = tf.tensor2d(b.x, [b.batch, b.seq], 'int32');
        const y = tf.tensor2d(b.y, [b.batch, b.seq], 'int32');
        return optimizer.minimize(() => loss(op.cfg, op.materialize(), x, y), true, op.vars)!;
      });
      const value = (await l.data())[0];
      l.dispose();
      flops += 3 * op.materializeFlops + stepFlops(op.cfg, b.batch, b.seq).training;
      losses.push(value);
      opts.onStep?.(step + 1, value);
    }
    return { cfg: op.cfg, weights: await op.toHostWeights(), flops, losses };
  } finally {
    optimizer.dispose();
    op.dispose();
  }
}
