/**
 * The pinned source of the VGG-19 weights: one commit of one repository, and the SHA-256 and size of
 * every file we take from it. Pinning the commit and checking hashes means a download can never give a
 * user different (or tampered) weights than the ones the project was tested with.
 */

import { StylizeError } from '../common/errors.ts';

/** Raw files of github.com/azertat/tfjs_models at commit 3c14b35 (Keras VGG-19, TF.js layers format, uint8). */
export const PINNED_BASE_URL =
  'https://raw.githubusercontent.com/azertat/tfjs_models/3c14b35a1b5037c331fe01da1b00d2d3bb09bba9/models/little_shards/';

/** Env var that replaces the base URL (a mirror, or a local server in tests). */
export const WEIGHTS_URL_ENV = 'STYLIZE_WEIGHTS_URL';

export interface PinnedFile {
  /** File name, relative to the base URL and to the weights folder. */
  name: string;
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
  /** Size in bytes. */
  size: number;
}

/**
 * model.json plus shards 1..20 of 138: those hold all 16 conv layers (bytes 0 .. 20,024,384 of the
 * concatenated shards). Shards 21..138 are the fully connected layers, which style transfer never reads.
 */
export const PINNED_FILES: readonly PinnedFile[] = [
  { name: 'model.json', sha256: 'f60aa44c0c3fb179b3beddfcac96d3281e43338dd3fb7c9b9e2f89fe03237be5', size: 25990 },
  { name: 'group1-shard1of138.bin', sha256: 'cca7e99e423e8107664f51435855274ac51fd14570597d41744886e59cde34e6', size: 1048576 },
  { name: 'group1-shard2of138.bin', sha256: '550564f5e111b77878d59231eaf5d26b95da2eafcb84e1b09597906494527026', size: 1048576 },
  { name: 'group1-shard3of138.bin', sha256: '1682fb64cac699bd65fb5c8440922a28083e12ef2f52f8aed351d31a29550095', size: 1048576 },
  { name: 'group1-shard4of138.bin', sha256: '9103f95900a42be7f7e6028cca95d6e52ad537c237320a81d9e666bdac15f6e9', size: 1048576 },
  { name: 'group1-shard5of138.bin', sha256: 'da2918df08e6dc7d8f99cd7f35ea7862d3c09f899fe93e5b1ddfa6965de12f3e', size: 1048576 },
  { name: 'group1-shard6of138.bin', sha256: '3a808f7bc1add7c1c03f67354d69117e10ef0bcdd25248db4785a76738890d14', size: 1048576 },
  { name: 'group1-shard7of138.bin', sha256: '5b3479841bcb79fc6274d3426a58bcb234736347335bf66d20daea5cc583f8d1', size: 1048576 },
  { name: 'group1-shard8of138.bin', sha256: '933ba188e1b3977832f5bf2a229f61eca7d0d8c2850a42e63fe10baa40b72ff8', size: 1048576 },
  { name: 'group1-shard9of138.bin', sha256: '78d080b7752aedcbe7693bd552fe7d3488174aec7862942fcdb8167409c678e4', size: 1048576 },
  { name: 'group1-shard10of138.bin', sha256: '13ece075d0d682cd8c3feeaa962122c154923500a0aca1022ee47c6fa5608e69', size: 1048576 },
  { name: 'group1-shard11of138.bin', sha256: 'fa63eebe52165edd2f209a757fd7add6930aec952872c96428934cd0fc9a6d3a', size: 1048576 },
  { name: 'group1-shard12of138.bin', sha256: '685bb760e407e77c6f71b51653176ae6ff2f3dfa137a3fd72baeaf533f35e036', size: 1048576 },
  { name: 'group1-shard13of138.bin', sha256: '28cb9ed5094b73e74ab5f80292e5bd1dc03c0a1930df1a14d53eaab3e1f5aba0', size: 1048576 },
  { name: 'group1-shard14of138.bin', sha256: '0cd8d60aeb1ffc93f18d781fa03b61b73174a88c9a6680a6c6f57c014328c9f4', size: 1048576 },
  { name: 'group1-shard15of138.bin', sha256: '5c147b8aa536957022abe3e122352a7952c3d56a12aeb3bb18751bf595cec822', size: 1048576 },
  { name: 'group1-shard16of138.bin', sha256: '80ea6169a921b5a8dcfd3109c8ac6517cdce5750ebda5e88ac8577ddba46c96f', size: 1048576 },
  { name: 'group1-shard17of138.bin', sha256: '2c3eecc55de1dcac2fcbb7e0f7064804ea71b68df03a77e2ccfbb9f6eb3fd15e', size: 1048576 },
  { name: 'group1-shard18of138.bin', sha256: '018b2eb3ea60f067fbe8c036cddf194acd3f8d06adf29b349a6d76cf82a0d7ef', size: 1048576 },
  { name: 'group1-shard19of138.bin', sha256: 'd5fb21c5cdedb4b4407fd34e0994ee58d25f4ea6163230dfd1944481431ff5bc', size: 1048576 },
  { name: 'group1-shard20of138.bin', sha256: 'c83cb283499ef039d8079bf3317dbad59806413c6b36d99c9af0747bd62ebe73', size: 1048576 },
];

/** Sum of the pinned files' sizes (for progress bars). */
export const PINNED_TOTAL_BYTES: number = PINNED_FILES.reduce((sum, f) => sum + f.size, 0);

/** The base URL to download from: explicit argument, else STYLIZE_WEIGHTS_URL, else the pinned commit. Always ends in "/". */
export function weightsBaseUrl(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const raw = explicit || env[WEIGHTS_URL_ENV] || PINNED_BASE_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StylizeError('bad_setting', `Weights URL "${raw}" is not a valid URL. Give a full http(s) URL of the folder holding model.json.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StylizeError('bad_setting', `Weights URL "${raw}" must start with http:// or https://.`);
  }
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

export function pinnedFile(name: string): PinnedFile | undefined {
  return PINNED_FILES.find((f) => f.name === name);
}
