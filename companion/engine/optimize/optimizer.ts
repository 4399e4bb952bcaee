/** Optimizers work on plain Float32Arrays through a LossEvaluator, so any compute engine fits. */
import type { Evaluation } from '../types.ts';

export type Objective = (x: Float32Array) => Promise<Evaluation>;

export interface StepResult {
  /** Evaluation at the point the step started from (what the progress reports). */
  evaluation: Evaluation;
  /** Loss evaluations this step used (L-BFGS line search may use several). */
  evaluations: number;
}

export interface Optimizer {
  /** Updates x in place by one iteration. */
  step(x: Float32Array, objective: Objective): Promise<StepResult>;
}
