"""The store and the data coming in: schema and migrations, imports, mappings, HTTP sync, timeline."""
