// esbuild bundles CSS imported from the UI entry; TypeScript only needs to know the import exists.
declare module '*.css';
