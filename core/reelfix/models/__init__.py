"""Model cards (a model's I/O contract as data), the catalog, and converters."""
