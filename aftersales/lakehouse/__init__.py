"""The warehouse as a DuckLake: what `--db` names, the bundled extensions, the one opener, the publish commit."""
