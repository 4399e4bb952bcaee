/** The Stylize companion protocol (version 1), shared by the plugin and the companion. */
export * from './errors.ts';
export * from './messages.ts';
export * from './frames.ts';
export * from './client-text.ts';
