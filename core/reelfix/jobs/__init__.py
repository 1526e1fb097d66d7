"""Jobs: the validated spec, its loading from YAML/JSON, provenance and the run manifest."""
