"""Magnet tracking: a physical model of the implanted tags (the patient twin), fitted to
cued recordings, and a per-sample tracker that estimates every tag's displacement."""
