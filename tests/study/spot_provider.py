"""The autoscaler's view of a cloud where a lost node is gone: Ray's fake multi-node
provider, except that a node whose raylet has died leaves the provider's list, as a reclaimed
spot instance leaves EC2's. Ray's own fake provider keeps listing such a node as pending
forever, so its autoscaler never replaces it; AWS's lists only running instances, and the
autoscaler launches a replacement for the demand the lost node leaves. Loaded by the
autoscaler of autoscaling_study.py's cluster (``provider: {type: external, module:
spot_provider.SpotProvider}``), with this folder on its PYTHONPATH."""

from __future__ import annotations

from ray._private import ray_constants
from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider


class SpotProvider(FakeMultiNodeProvider):
    def non_terminated_nodes(self, tag_filters):
        with self.lock:
            for node_id, entry in list(self._nodes.items()):
                node = entry.get("node")  # the head has none: it is not ours to lose
                if node is not None and _raylet_dead(node):
                    del self._nodes[node_id]
                    node.kill_all_processes(check_alive=False, allow_graceful=False)
        return super().non_terminated_nodes(tag_filters)


def _raylet_dead(node) -> bool:
    raylets = node.all_processes.get(ray_constants.PROCESS_TYPE_RAYLET, [])
    return any(info.process.poll() is not None for info in raylets)
