export { RegistryClient, ACCEPT_MANIFESTS, type FetchedManifest } from './registry.js';
export { Transport, registryBaseUrl, type TransportOptions, type Response } from './transport.js';
export { parseChallenge, TokenCache, type Challenge, type Credentials } from './auth.js';
export { RegistryError, isRetryable, type RegistryErrorKind } from './errors.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export { hostPlatform, parsePlatform, formatPlatform, selectPlatform, indexEntries, type Platform, type PlatformDescriptor } from './platform.js';
export { pullImage, type PullSink, type BlobWriter, type ChunkTap, type LayerTap, type PullEvent, type PullOptions, type PulledImage } from './pull.js';
export { pushImage, pushIndex, type PushSource, type PushEvent, type PushOptions } from './push.js';
export { berthAuthFile, credentialFiles, findCredentials, loggedInRegistries, saveCredentials, removeCredentials } from './credential-files.js';
