"""The node agent (docs/cluster.md): join an engine once, then report a heartbeat over mutual TLS.

Public API (what the console and other packages use):

- `agent.join`: `JoinRequest`, `request_from_join_string`, `request_from_parts`, `join()`, `leave()`
- `agent.status`: `read_status()`, `cluster_line()`, `storage_line()`: the console's view of agent.json
- `agent.daemon`: `Agent`, the heartbeat loop behind `hcinode agent`
"""
