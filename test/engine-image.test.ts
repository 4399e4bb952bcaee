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

test('a picture larger than the job needs is decoded at the size it works at, turned and in proportion; a smaller one as it is', async () => {
  const photo = (orientation: number) => sharp({ create: { width: 400, height: 300, channels: 3, background: '#a52' } }).jpeg().withMetadata({ orientation }).toBuffer();
  const at = async (bytes: Uint8Array, longSide: number) => {
    const d = await decodeImage(bytes, { longSide });
    assert.equal(d.rgba.length, d.width * d.height * 4);
    return [d.width, d.height];
  };
  assert.deepEqual(await at(await photo(1), 128), [128, 96]);
  assert.deepEqual(await at(await photo(6), 128), [96, 128], 'EXIF-turned: the long side is the shown one');
  assert.deepEqual(await at(await photo(1), 1000), [400, 300], 'never enlarged at decode');
});
