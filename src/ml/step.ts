/**
 * One training step: forward + backward through tfjs, then the AdamW update on the host buffers
 * (./optim.ts), then fresh parameter tensors for the next step. Parameters are replaced rather than
 * written in place on purpose: the wasm backend caches XNNPACK operators (with packed weights) per
 * tensor id, so mutating a weight tensor's memory would leave stale packed copies in use.
 */
import * as tf from './tf.ts';
import type { ModelConfig } from './config.ts';
import { loss, type Weights } from './model.ts';
import type { AdamW } from './optim.ts';
import type { Batch } from './sampler.ts';

export interface Stepper {
  /** Runs one step on `batch` with learning rate `lr`; returns the batch loss before the update. */
  step(batch: Batch, lr: number): number;
  /** Current weights as tensors (owned by the stepper; valid until the next step). */
  weights(): Weights;
  dispose(): void;
}

export function createStepper(cfg: ModelConfig, opt: AdamW): Stepper {
  const slots = opt.slots;
  let params: tf.Tensor[] = [];
  let dict: Weights = {};
  const refresh = () => {
    tf.dispose(params);
    params = slots.map((s) => tf.tensor(opt.params.subarray(s.offset, s.offset + s.size), s.shape, 'float32'));
    dict = Object.fromEntries(slots.map((s, i) => [s.name, params[i]]));
  };
  refresh();
  return {
    step(batch, lr) {
      const x = tf.tensor2d(batch.x, [batch.batch, batch.seq], 'int32');
      const y = tf.tensor2d(batch.y, [batch.batch, batch.seq], 'int32');
      const f = (...ts: tf.Tensor[]) => loss(cfg, Object.fromEntries(slots.map((s, i) => [s.name, ts[i]])), x as tf.Tensor2D, y as tf.Tensor2D);
      const { value, grads } = tf.valueAndGrads(f)(params);
      const l = value.dataSync()[0];
      const g = grads.map((t) => t.dataSync() as Float32Array);
      tf.dispose([value, ...grads, x, y]);
      opt.update(g, lr);
      refresh();
      return l;
    },
    weights: () => dict,
    dispose() {
      tf.dispose(params);
      params = [];
    },
  };
}
