"""Raw data service: science windows (CONS data) streamed from the object store."""
