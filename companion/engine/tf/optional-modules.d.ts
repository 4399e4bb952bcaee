/**
 * Optional dependencies that are absent offline (their install downloads libtensorflow). They are
 * imported by literal name so every edge of the module graph stays visible; loaded only for the
 * side effect of registering tfjs's 'tensorflow' backend, so no types are needed from them.
 */
declare module '@tensorflow/tfjs-node';
declare module '@tensorflow/tfjs-node-gpu';
