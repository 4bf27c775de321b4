"""Gluster hyperconverged storage: spec -> preflight -> brick and cluster plans -> apply over ssh."""
