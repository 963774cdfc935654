/** The service manager for a node that carries the sandbox marker (see src/sandbox/sandbox.ts). */
import type { SandboxMarker, SnapPaths } from '../node/node.js';
import type { ServiceManager } from '../engine/services.js';
import { sandboxServiceManager } from './sandbox.js';

export function sandboxServices(marker: SandboxMarker, paths: SnapPaths): ServiceManager {
  return sandboxServiceManager({ dir: marker.dir, snapData: paths.snapData, netns: marker.netns ?? '', layout: marker.layout });
}
