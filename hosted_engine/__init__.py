"""Self-hosted engine: deploy the engine VM onto the Gluster engine volume, and its HA agent."""
