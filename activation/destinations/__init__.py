"""Destinations: who may be sent, in which format, and what each destination already holds.

Plain Python (no Dagster): ``members`` applies the safety rules again at export,
``identifiers`` normalises and hashes contact identifiers, ``formats`` writes the files,
``webhook`` pushes JSON batches, ``sync`` computes what joined and left since the last
successful sync and ``erasure`` rewrites earlier files without forgotten customers.
"""
