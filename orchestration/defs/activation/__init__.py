"""Activation assets: audiences, exports, lift (the library is the top-level `activation`)."""
