import type { Objective, Optimizer, StepResult } from './optimizer.ts';

/** Adam (Kingma & Ba) with TensorFlow's defaults: beta1 0.9, beta2 0.999, epsilon 1e-8. */
export class Adam implements Optimizer {
  private m?: Float32Array;
  private v?: Float32Array;
  private t = 0;

  constructor(private readonly lr: number, private readonly beta1 = 0.9, private readonly beta2 = 0.999, private readonly eps = 1e-8) {}

  async step(x: Float32Array, objective: Objective): Promise<StepResult> {
    const evaluation = await objective(x);
    const g = evaluation.grad;
    this.m ??= new Float32Array(x.length);
    this.v ??= new Float32Array(x.length);
    const { m, v, beta1, beta2, eps } = this;
    this.t++;
    // TF's formulation: fold both bias corrections into the step size.
    const lrT = (this.lr * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    for (let i = 0; i < x.length; i++) {
      const gi = g[i];
      m[i] = beta1 * m[i] + (1 - beta1) * gi;
      v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
      x[i] -= (lrT * m[i]) / (Math.sqrt(v[i]) + eps);
    }
    return { evaluation, evaluations: 1 };
  }
}
