/**
 * TRANSITIONAL SHIM (issue 11, phase A): the error class moved to common/errors.ts, a leaf every
 * layer may import. This re-export keeps in-flight branches that import it from here compiling
 * (companion/server/*, companion/engine/plan.ts); new code imports common/errors.ts. Remove in phase B.
 */
export { StylizeError, isAbortError, type StylizeErrorCode } from '../../common/errors.ts';
