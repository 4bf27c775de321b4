"""hcinode image pipeline: recipes (data) and the builder that turns them into ISO, PXE and qcow2."""
