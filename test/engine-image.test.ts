/**
 * Image reading: the size the checks see is the size the engine works on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeImage, probeImage } from '../companion/engine/image.ts';

test('an EXIF-rotated photo is measured as shown: the header check and the decoder agree on its width and height', async () => {
  // Phones store portrait photos landscape with an orientation tag; 5-8 turn the picture a quarter.
  for (const orientation of [1, 3, 6, 8]) {
    const bytes = new Uint8Array(await sharp({ create: { width: 40, height: 20, channels: 3, background: '#a52' } }).jpeg().withMetadata({ orientation }).toBuffer());
    const probed = await probeImage(bytes);
    const decoded = await decodeImage(bytes);
    const shown = orientation >= 5 ? [20, 40] : [40, 20];
    assert.deepEqual([decoded.width, decoded.height], shown, `orientation ${orientation}: decoded`);
    assert.deepEqual([probed.width, probed.height], shown, `orientation ${orientation}: probed`);
  }
});
