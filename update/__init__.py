"""Node updates: whole-image A/B updates on thin LVs with a trial boot that rolls back by itself.

See docs/update.md. One copy of the payload and bootloader logic: the image is written with the
installer's own actions (installer.target), this package adds what an update needs on top.
"""
