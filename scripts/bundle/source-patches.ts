/**
 * An esbuild plugin that makes the bundled code find its files in the bundle's folder instead of
 * node_modules or the repository:
 *  - our sources: each `import.meta.url` becomes the URL the file would have inside the bundle
 *    (e.g. <bundle>/companion/server/engine-thread.js), so paths computed from it (the project root,
 *    weights/cache, the engine worker next to engine-thread) land in the bundle;
 *  - packages that load native code or wasm by a path relative to their own file: that load is
 *    pointed at native/… or wasm/ (native-parts.ts copies the files there).
 * Each package patch must match; when a package update changes its loader the build stops and says so.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Plugin } from 'esbuild';
import { SHARP_MODULE_NAME } from './native-parts.ts';

/** Helpers the banner defines in every bundled entry (see runtimeBanner). */
const SOURCE_URL = '__stylizeSourceUrl';
const NATIVE = '__stylizeNative';
const ASSET = '__stylizeAsset';

interface PackagePatch {
  /** Matches the file's path (with forward slashes). */
  file: RegExp;
  find: RegExp;
  replace: string;
  why: string;
}

const PACKAGE_PATCHES: PackagePatch[] = [
  {
    file: /\/onnxruntime-node\/dist\/binding\.js$/,
    find: /require\(`\.\.\/bin\/napi-v\d+\/\$\{process\.platform\}\/\$\{process\.arch\}\/onnxruntime_binding\.node`\)/g,
    replace: `${NATIVE}("onnxruntime/onnxruntime_binding.node")`,
    why: "onnxruntime-node's binding (its shared library sits beside it: RUNPATH $ORIGIN)",
  },
  {
    file: /\/webgpu\/index\.js$/,
    find: /require\(dawnNodePath\)/g,
    replace: `${NATIVE}("webgpu/dawn.node")`,
    why: "the webgpu package's dawn.node",
  },
  {
    file: /\/sharp\/dist\/sharp\.mjs$/,
    find: /require\("(@img\/sharp-[a-z0-9-]+)\/sharp\.node"\)/g,
    replace: `${NATIVE}("$1/lib/${SHARP_MODULE_NAME}")`,
    why: "sharp's platform module (libvips is found through its RPATH)",
  },
  {
    file: /\/@tensorflow\/tfjs-backend-wasm\/dist\/tf-backend-wasm\.node\.js$/,
    find: /scriptDirectory = __dirname \+ "\/";/g,
    replace: `scriptDirectory = ${ASSET}("wasm") + "/";`,
    why: "the tfjs wasm kernels (.wasm files; __dirname does not exist in an ES module)",
  },
];

/** Banner code for an entry written at `entryDir` (relative to the bundle root, '' for the root). */
export function runtimeBanner(entryDir: string, nodeCheck: boolean): string {
  const up = entryDir ? entryDir.split('/').map(() => '..') : [];
  return [
    `import { createRequire as __stylizeCreateRequire } from 'node:module';`,
    `import { fileURLToPath as __stylizeToPath, pathToFileURL as __stylizeToUrl } from 'node:url';`,
    `import { join as __stylizeJoin, dirname as __stylizeDirname } from 'node:path';`,
    // CommonJS code inside the bundle calls require() for Node's built-in modules.
    `const require = __stylizeCreateRequire(import.meta.url);`,
    `const __stylizeRoot = __stylizeJoin(__stylizeDirname(__stylizeToPath(import.meta.url)), ${up.map((u) => JSON.stringify(u)).join(', ') || "'.'"});`,
    `const ${SOURCE_URL} = (rel) => __stylizeToUrl(__stylizeJoin(__stylizeRoot, rel)).href;`,
    `const ${ASSET} = (rel) => __stylizeJoin(__stylizeRoot, rel);`,
    `const ${NATIVE} = (rel) => require(__stylizeJoin(__stylizeRoot, 'native', rel));`,
    ...(nodeCheck
      ? [`if (+process.versions.node.split('.')[0] < 20) { process.stderr.write('stylize: needs Node.js 20 or newer; this is ' + process.version + '.\\n'); process.exit(1); }`]
      : []),
  ].join('\n');
}

/** The plugin, and after a build the patches that found no file (the package moved its loader). */
export function sourcePatches(repoRoot: string): { plugin: Plugin; unused: () => string[] } {
  const applied = new Set<PackagePatch>();
  const plugin: Plugin = {
    name: 'stylize-bundle-paths',
    setup(build) {
      build.onStart(() => applied.clear());
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        const rel = path.relative(repoRoot, args.path).split(path.sep).join('/');
        if (rel.startsWith('..') || rel.includes('node_modules/')) return undefined;
        const text = await readFile(args.path, 'utf8');
        const asJs = JSON.stringify(rel.replace(/\.ts$/, '.js'));
        return { contents: text.replace(/\bimport\.meta\.url\b/g, `${SOURCE_URL}(${asJs})`), loader: 'ts' };
      });
      build.onLoad({ filter: /\.(c|m)?js$/ }, async (args) => {
        const file = args.path.split(path.sep).join('/');
        const patches = PACKAGE_PATCHES.filter((p) => p.file.test(file));
        if (!patches.length) return undefined;
        let text = await readFile(args.path, 'utf8');
        for (const p of patches) {
          const next = text.replace(p.find, p.replace);
          if (next === text) {
            return { errors: [{ text: `The bundle's patch for ${p.why} no longer matches ${file} (was the package updated?). Update scripts/bundle/source-patches.ts.` }] };
          }
          text = next;
          applied.add(p);
        }
        return { contents: text, loader: 'js' };
      });
    },
  };
  const unused = () => PACKAGE_PATCHES.filter((p) => !applied.has(p)).map((p) => `${p.why} (no file matched ${p.file})`);
  return { plugin, unused };
}
