/**
 * From the protocol's job settings to the engine's. protocol/ declares its own WireJobSettings and
 * WireLossTerms so the wire contract changes only on purpose; the type checks below make tsc fail
 * when the engine's settings or loss terms drift away from them.
 */
import { ProtocolError } from '../../protocol/errors.ts';
import type { WireJobSettings, WireLossTerms, WireSettings } from '../../protocol/messages.ts';
import { StylizeError } from '../../common/errors.ts';
import type { LossTerms } from '../../common/losses.ts';
import { resolveSettings } from '../engine/settings.ts';
import type { StylizeSettings } from '../engine/types.ts';

/** `true` when A's fields and B's are the same names; `false` names the drift at the use below. */
type SameFields<A, B> = [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never] ? true : false;
/** `true` when a value of From can be sent where To is declared. */
type Assignable<From, To> = [From] extends [To] ? true : false;

// Compile-time checks (a failure here is a type error on the line that drifted):
// every engine setting travels under the same name, and the engine's values fit the wire's types
// (capabilities sends the engine's defaults; progress and done send the engine's loss terms).
const settingsSameFields: SameFields<WireJobSettings, StylizeSettings> = true;
const settingsFitTheWire: Assignable<StylizeSettings, WireJobSettings> = true;
const lossesSameFields: SameFields<WireLossTerms, LossTerms> = true;
const lossesFitTheWire: Assignable<LossTerms, WireLossTerms> = true;
void [settingsSameFields, settingsFitTheWire, lossesSameFields, lossesFitTheWire];

/**
 * A submit's settings as the engine's, complete: every field is checked and normalized by the
 * engine's own rules (layer names to Keras form, ranges, enums), so the worker runs exactly what
 * was accepted. The wire type is what a well-behaved client sends; the bytes may hold anything,
 * so a bad value becomes a `bad_setting` refusal that names the field and the allowed range.
 */
export function toEngineSettings(wire: WireSettings): StylizeSettings {
  try {
    return resolveSettings(wire);
  } catch (err) {
    if (err instanceof StylizeError) throw new ProtocolError('bad_setting', err.message);
    throw err;
  }
}
