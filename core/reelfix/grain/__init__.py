"""Film grain: a model of it (synth), its measurement, the learned denoiser."""
