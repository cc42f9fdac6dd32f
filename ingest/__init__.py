"""Landing deliveries into raw tables: the data contract of every source and the loader that
holds deliveries to it."""
