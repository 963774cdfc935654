/**
 * The sandbox's service manager: MicroK8s services of a sandbox node are simulated (no snapd, no
 * systemd): each has a state file and an append-only log. What MicroK8s's start scripts refuse, the
 * sandbox refuses too: flanneld does not start while var/lock/no-flanneld exists.
 */
import type { SandboxMarker, SnapPaths } from '../node/node.js';
import { nodeFiles } from '../node/node.js';
import { exists } from '../adapters/fs.js';
import { sandboxManager, type ServiceManager } from '../engine/services.js';

export function sandboxServices(marker: SandboxMarker, paths: SnapPaths): ServiceManager {
  return sandboxManager(marker.dir, {
    async beforeStart(daemon) {
      if (daemon === 'flanneld' && (await exists(nodeFiles(paths).lock('no-flanneld')))) {
        throw new Error('var/lock/no-flanneld exists: flanneld does not start');
      }
    },
  });
}
