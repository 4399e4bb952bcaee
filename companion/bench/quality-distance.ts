/**
 * How far an image is from its content and from its style, measured with the project's own VGG-19
 * forward (the ONNX feature graph, same weights):
 *   content = ||F(x) - F(c)|| / ||F(c)|| at conv4_2;
 *   style   = mean over conv1_1..conv5_1 of ||G(x)/M - G(s)/Ms|| / ||G(s)/Ms||.
 * Relative norms, so figures compare across sizes and pairs; lower is closer for both. Independent
 * of the loss weights a plan optimizes, so plans with different weights are judged alike.
 */
import { OnnxSessions, type FeatureExtractor } from '../engine/onnx/sessions.ts';
import type { FloatImage } from '../engine/types.ts';
import type { VggLayerName } from '../../common/vgg19.ts';
import type { VggWeights } from '../../weights/types.ts';

export const CONTENT_LAYER: VggLayerName = 'block4_conv2';
export const STYLE_LAYERS: VggLayerName[] = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];

export interface Features {
  content: Float32Array;
  grams: Float32Array[];
}

export interface Distances {
  content: number;
  style: number;
  /** The style distance of each layer, conv1_1 .. conv5_1 (the style figure is their mean). */
  styleLayers?: number[];
}

function relative(a: Float32Array, ref: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return Math.sqrt(num / den);
}

export class QualityMeter {
  private constructor(private readonly backend: OnnxSessions, private readonly extractor: FeatureExtractor) {}

  /** Always ONNX Runtime on the CPU: the ruler stays the same whatever backend a plan ran on. */
  static async open(weights: VggWeights): Promise<QualityMeter> {
    const backend = await OnnxSessions.open('cpu');
    const extractor = await backend.featureSession(weights, 'avg', [CONTENT_LAYER], STYLE_LAYERS);
    return new QualityMeter(backend, extractor);
  }

  async features(img: FloatImage): Promise<Features> {
    const out = await this.extractor.run(img, { content: [CONTENT_LAYER], style: STYLE_LAYERS });
    return { content: out.content.get(CONTENT_LAYER)!, grams: STYLE_LAYERS.map((l) => out.grams.get(l)!) };
  }

  /** `x` and `content` must be the same size (conv4_2 maps are compared position by position). */
  static distances(x: Features, content: Features, style: Features): Distances {
    if (x.content.length !== content.content.length) throw new Error('the image and the content reference differ in size');
    const perLayer = x.grams.map((g, i) => relative(g, style.grams[i]));
    return { content: relative(x.content, content.content), style: perLayer.reduce((a, b) => a + b, 0) / perLayer.length, styleLayers: perLayer };
  }

  dispose(): void {
    this.backend.dispose();
  }
}
