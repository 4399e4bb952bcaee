/**
 * The one way a client writes a text frame: typed by ClientTextMessage, so a misspelt field or a
 * missing ref is a compile error instead of a refusal from the companion. Pure TypeScript (the
 * plugin bundles it).
 */
import { ProtocolError } from './errors.ts';
import { MAX_MESSAGE_BYTES, utf8Length, type ClientTextMessage } from './messages.ts';

/** JSON for one client text message; refuses one the companion would refuse for its size. */
export function encodeClientText(message: ClientTextMessage): string {
  const text = JSON.stringify(message);
  const bytes = utf8Length(text);
  if (bytes > MAX_MESSAGE_BYTES) {
    throw new ProtocolError('message_too_large', `A ${message.type} message of ${bytes} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit for control messages; images go in binary frames.`);
  }
  return text;
}
